const token = new URLSearchParams(location.search).get("token") || "";
const result = document.getElementById("result");
document.getElementById("accept").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("name").value.trim();
  const body = { token };
  if (name) body.display_name = name;
  const response = await fetch("/api/v1/invitations/accept", {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json();
  result.textContent = "";
  if (response.ok) {
    const p = document.createElement("p");
    p.textContent = `Welcome, ${answer.member.display_name}. Your API token (shown once; keep it):`;
    const code = document.createElement("code");
    code.textContent = answer.token;
    result.append(p, code);
    event.target.hidden = true;
  } else {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = answer.detail || "The invitation could not be accepted.";
    result.append(p);
  }
});
