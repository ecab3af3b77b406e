// The create form's size rows: add and remove rows (renumbering names, ids and labels so the
// server reads them in order), and with any size filled in, the drop's inventory is their sum.

const list = document.getElementById("size-rows");
const add = document.getElementById("add-size");
const inventory = document.getElementById("inventory");
const hint = document.querySelector("[data-field=inventory-hint]");
const MAX_SIZES = 50;

function renumber() {
  list.querySelectorAll("[data-size-row]").forEach((row, n) => {
    for (const input of row.querySelectorAll("input")) {
      const field = input.name.split("-").pop();
      input.name = input.id = `variant-${n}-${field}`;
      const label = row.querySelector(`label[for^="variant-"][for$="-${field}"]`);
      label.htmlFor = input.id;
      label.textContent = label.textContent.replace(/^Size \d+/, `Size ${n + 1}`);
    }
    row.querySelector("[data-remove-size]").textContent = `Remove size ${n + 1}`;
  });
  add.disabled = list.children.length >= MAX_SIZES;
}

function summarise() {
  const rows = [...list.querySelectorAll("[data-size-row]")];
  const filled = rows.filter((row) => [...row.querySelectorAll("input")].some((i) => i.value.trim()));
  inventory.disabled = filled.length > 0;
  const total = filled.reduce((sum, row) => sum + (Number(row.querySelector("[name$=-inventory]").value) || 0), 0);
  hint.textContent = filled.length
    ? `${filled.length} size${filled.length === 1 ? "" : "s"}: the inventory is their sum, ${total}.`
    : "With sizes: their sum.";
}

function blankRow() {
  const row = list.querySelector("[data-size-row]").cloneNode(true);
  for (const input of row.querySelectorAll("input")) input.value = "";
  return row;
}

if (list && add && inventory) {
  const template = blankRow();
  for (const button of document.querySelectorAll("[data-remove-size], #add-size")) button.hidden = false;
  add.addEventListener("click", () => {
    const row = template.cloneNode(true);
    row.querySelector("[data-remove-size]").hidden = false;
    list.append(row);
    renumber();
    row.querySelector("input").focus();
  });
  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove-size]");
    if (!button) return;
    const row = button.closest("[data-size-row]");
    const next = row.nextElementSibling ?? row.previousElementSibling;
    row.remove();
    renumber();
    summarise();
    (next?.querySelector("input") ?? add).focus();
  });
  list.addEventListener("input", summarise);
  renumber();
  summarise();
}
