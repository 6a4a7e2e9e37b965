// Lists a page of products through CloudFront (/products is routed to the API stage).
async function loadProducts() {
  const category = document.querySelector("#category").value;
  const query = new URLSearchParams({ page: "1", limit: "20" });
  if (category) query.set("category", category);
  const response = await fetch(`/products?${query}`);
  const status = document.querySelector("#status");
  const body = document.querySelector("#products");
  body.replaceChildren();
  if (!response.ok) {
    status.textContent = `Request failed: ${response.status}`;
    return;
  }
  const data = await response.json();
  for (const product of data.items ?? []) {
    const row = document.createElement("tr");
    for (const value of [product.id, product.name, product.category, product.price]) {
      const cell = document.createElement("td");
      cell.textContent = String(value);
      row.append(cell);
    }
    body.append(row);
  }
  status.textContent = `x-cache: ${response.headers.get("x-cache") ?? "n/a"}`;
}
document.querySelector("#load").addEventListener("click", loadProducts);
