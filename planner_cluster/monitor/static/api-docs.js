// The monitor's API reference, drawn from /api/openapi.json. Served from the package (no CDN),
// so it works on a facility network without internet; text is set with textContent only.
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function typeName(schema) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map(typeName).join(" | ");
  if (schema.type === "array") return `${typeName(schema.items)}[]`;
  return schema.type || "object";
}

function table(head, rows) {
  const t = el("table");
  const tr = el("tr");
  head.forEach((h) => tr.appendChild(el("th", h)));
  t.appendChild(tr);
  rows.forEach((row) => {
    const r = el("tr");
    row.forEach((cell) => r.appendChild(el("td", cell)));
    t.appendChild(r);
  });
  return t;
}

function operation(path, method, op) {
  const box = el("section");
  const title = el("h3");
  title.appendChild(el("span", method.toUpperCase(), `method ${method}`));
  title.appendChild(document.createTextNode(path));
  box.appendChild(title);
  if (op.summary) box.appendChild(el("p", op.summary));
  if (op.description && op.description !== op.summary) box.appendChild(el("p", op.description));
  const params = op.parameters || [];
  if (params.length) {
    box.appendChild(table(["parameter", "in", "type", "required"], params.map((p) => [
      p.name, p.in, typeName(p.schema), p.required ? "yes" : "no"])));
  }
  const body = op.requestBody && op.requestBody.content;
  if (body) {
    Object.entries(body).forEach(([mime, media]) => {
      box.appendChild(el("p", `body (${mime}): ${typeName(media.schema)}`, "type"));
    });
  }
  const codes = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${r.description || ""}`);
  if (codes.length) box.appendChild(el("p", `responses: ${codes.join("; ")}`, "type"));
  return box;
}

function schemaBox(name, schema) {
  const box = el("section");
  box.appendChild(el("h3", name));
  if (schema.description) box.appendChild(el("p", schema.description));
  const required = new Set(schema.required || []);
  const props = Object.entries(schema.properties || {});
  if (props.length) {
    box.appendChild(table(["field", "type", "required"], props.map(([field, s]) => [
      field, typeName(s), required.has(field) ? "yes" : "no"])));
  }
  return box;
}

async function render() {
  const main = document.getElementById("docs");
  const reply = await fetch("/api/openapi.json", { credentials: "same-origin" });
  if (!reply.ok) {
    main.textContent = `could not load /api/openapi.json: HTTP ${reply.status}`;
    return;
  }
  const spec = await reply.json();
  main.textContent = "";
  main.appendChild(el("h2", `${spec.info.title} (version ${spec.info.version})`));
  if (spec.info.description) main.appendChild(el("p", spec.info.description));
  Object.entries(spec.paths || {}).forEach(([path, ops]) => {
    Object.entries(ops).forEach(([method, op]) => main.appendChild(operation(path, method, op)));
  });
  const schemas = Object.entries((spec.components || {}).schemas || {});
  if (schemas.length) main.appendChild(el("h2", "Schemas"));
  schemas.forEach(([name, schema]) => main.appendChild(schemaBox(name, schema)));
}

render().catch((err) => {
  document.getElementById("docs").textContent = `could not show the API: ${err}`;
});
