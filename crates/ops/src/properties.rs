//! Defining custom properties (SPEC §1 "Property definitions"; §2: admins).

use roster_model::{new_id, Event, Id, MemberKind, PropertyDef, PropertyType};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::access::require_admin;
use crate::{validate, Ctx, OpError, Outcome, NOTHING};

const RULE: &str = "only admins define properties";

/// The body of `POST /properties`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProperty {
    /// A lower-case identifier.
    pub name: String,
    /// `user` or `customer`.
    pub applies_to: MemberKind,
    /// `text`, `number` or `boolean`.
    #[serde(rename = "type")]
    pub value_type: PropertyType,
    /// What the property means.
    #[serde(default)]
    pub description: String,
}

/// The body of `PATCH /properties/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyPatch {
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new type; refused while any member has a value.
    #[serde(rename = "type", default)]
    pub value_type: Option<PropertyType>,
}

/// Refuses a change to a property that the rules of dynamic groups read, naming them.
fn ensure_unread(ctx: &Ctx, property: &PropertyDef, change: &str) -> Result<(), OpError> {
    let mut groups: Vec<String> = ctx
        .state
        .dynamic()
        .readers_of(property.applies_to, &property.name)
        .into_iter()
        .filter_map(|id| ctx.state.group(&id))
        .map(|g| format!("`{}`", g.name))
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    groups.sort();
    Err(OpError::conflict(format!(
        "property `{}` is read by the rules of {}; change those rules before you {change} it",
        property.name,
        groups.join(", ")
    )))
}

/// Defines a property.
pub fn create(ctx: &Ctx, input: NewProperty) -> Result<Outcome<PropertyDef>, OpError> {
    require_admin(ctx, RULE)?;
    let name = validate::property_name(&input.name)?;
    if ctx.state.property_named(input.applies_to, &name).is_some() {
        return Err(OpError::conflict(format!(
            "a {} property named `{name}` already exists",
            input.applies_to.as_str()
        )));
    }
    let property = PropertyDef {
        id: new_id(),
        name,
        applies_to: input.applies_to,
        value_type: input.value_type,
        description: validate::description(&input.description)?,
        created_at: ctx.now,
    };
    Ok(Outcome {
        events: vec![Event::PropertyUpserted {
            property: property.clone(),
        }],
        audit: vec![ctx.audit(
            "property.create",
            "property",
            Some(property.id),
            NOTHING,
            Some(&property),
        )],
        value: property,
    })
}

/// Changes a property's description or, while no member has a value, its type.
pub fn update(ctx: &Ctx, id: Id, patch: PropertyPatch) -> Result<Outcome<PropertyDef>, OpError> {
    let before = ctx
        .state
        .property(&id)
        .ok_or_else(|| OpError::not_found("property"))?;
    require_admin(ctx, RULE)?;
    let mut property = before.clone();
    if let Some(description) = &patch.description {
        property.description = validate::description(description)?;
    }
    if let Some(value_type) = patch.value_type {
        if value_type != before.value_type {
            ensure_unread(ctx, before, "change the type of")?;
            let holders = ctx
                .state
                .members_with_property(before.applies_to, &before.name)
                .len();
            if holders > 0 {
                return Err(OpError::conflict(format!(
                    "property `{}` has values on {holders} member(s); its type cannot change while values exist",
                    before.name
                )));
            }
            property.value_type = value_type;
        }
    }
    if property == *before {
        return Ok(Outcome::unchanged(property));
    }
    Ok(Outcome {
        events: vec![Event::PropertyUpserted {
            property: property.clone(),
        }],
        audit: vec![ctx.audit(
            "property.update",
            "property",
            Some(id),
            Some(before),
            Some(&property),
        )],
        value: property,
    })
}

/// Deletes a property and removes its values from every member, in one write.
pub fn delete(ctx: &Ctx, id: Id) -> Result<Outcome<()>, OpError> {
    let property = ctx
        .state
        .property(&id)
        .ok_or_else(|| OpError::not_found("property"))?;
    require_admin(ctx, RULE)?;
    ensure_unread(ctx, property, "delete")?;
    let mut events = vec![Event::PropertyDeleted { id }];
    let mut audit = Vec::new();
    for before in ctx
        .state
        .members_with_property(property.applies_to, &property.name)
    {
        let mut member = before.clone();
        member.properties.remove(&property.name);
        member.updated_at = ctx.now;
        audit.push(ctx.audit(
            "member.update",
            "member",
            Some(member.id),
            Some(&before),
            Some(&member),
        ));
        events.push(Event::MemberUpserted { member });
    }
    audit.push(ctx.audit(
        "property.delete",
        "property",
        Some(id),
        Some(property),
        NOTHING,
    ));
    Ok(Outcome {
        value: (),
        events,
        audit,
    })
}
