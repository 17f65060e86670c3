//! Each question shape on a table generated here, with the expected answer computed in Rust
//! from the same rows (not by SQL).

use std::collections::BTreeMap;

use crate::{chunk::Locator, exact, planner::Shape, table::Tables};

#[derive(Debug, Clone)]
struct Order {
    id: i64,
    customer: &'static str,
    region: &'static str,
    product: &'static str,
    quantity: i64,
    unit_price: f64,
    date: String,
    status: &'static str,
}

const CUSTOMERS: [&str; 6] = [
    "Ada Lovelace",
    "Bob Stone",
    "Chen Wei",
    "Dana Ruiz",
    "Eli Novak",
    "Fatima Zahra",
];
const REGIONS: [&str; 4] = ["North", "South", "East", "West"];
const PRODUCTS: [&str; 5] = ["Widget", "Gadget", "Sprocket", "Gizmo", "Doohickey"];
const STATUSES: [&str; 3] = ["shipped", "pending", "cancelled"];

fn orders() -> Vec<Order> {
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    (0..80)
        .map(|i| {
            let cents = 500 + next(19_500) as i64;
            Order {
                id: 1001 + i,
                customer: CUSTOMERS[next(6) as usize],
                region: REGIONS[next(4) as usize],
                product: PRODUCTS[next(5) as usize],
                quantity: 1 + next(9) as i64,
                unit_price: cents as f64 / 100.0,
                date: format!("{}-{:02}-{:02}", 2022 + next(3), 1 + next(12), 1 + next(28)),
                status: STATUSES[next(3) as usize],
            }
        })
        .collect()
}

fn load(rows: &[Order]) -> Tables {
    let mut t = Tables::new().expect("db");
    let header: Vec<String> = [
        "order_id",
        "customer",
        "region",
        "product",
        "quantity",
        "unit_price",
        "order_date",
        "status",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let data = rows
        .iter()
        .enumerate()
        .map(|(i, o)| {
            (
                Locator::Row { row: i as u32 + 1 },
                vec![
                    Some(o.id.to_string()),
                    Some(o.customer.into()),
                    Some(o.region.into()),
                    Some(o.product.into()),
                    Some(o.quantity.to_string()),
                    Some(format!("{:.2}", o.unit_price)),
                    Some(o.date.clone()),
                    Some(o.status.into()),
                ],
            )
        })
        .collect();
    t.load("orders", "orders.csv", &header, data).expect("load");
    t
}

fn check(t: &Tables, question: &str, shape: Shape, want: &str) {
    let got =
        exact::answer(t, None, question).unwrap_or_else(|e| panic!("{question}: not planned: {e}"));
    assert_eq!(got.plan.shape, shape, "{question}: {}", got.plan.sql);
    let same = match (got.value.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => got.value == want,
    };
    assert!(
        same,
        "{question}\n  got {} want {want}\n  sql {}",
        got.value, got.plan.sql
    );
}

fn refused(t: &Tables, question: &str) {
    if let Ok(p) = exact::answer(t, None, question) {
        panic!("{question}: planned as {} = {}", p.plan.sql, p.value);
    }
}

fn ties<K: Clone + Ord + ToString>(m: &BTreeMap<K, f64>, max: bool) -> String {
    let best = m
        .values()
        .copied()
        .fold(if max { f64::MIN } else { f64::MAX }, |a, b| {
            if max { a.max(b) } else { a.min(b) }
        });
    m.iter()
        .filter(|(_, v)| **v == best)
        .map(|(k, _)| k.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn lookup_of_a_record_by_id() {
    let rows = orders();
    let t = load(&rows);
    let o = &rows[16];
    check(
        &t,
        &format!("What is the customer of order {}?", o.id),
        Shape::Lookup,
        o.customer,
    );
    check(
        &t,
        &format!("What is the status of order_id {}?", o.id),
        Shape::Lookup,
        o.status,
    );
    check(
        &t,
        &format!("Which product was in order {}?", rows[41].id),
        Shape::Lookup,
        rows[41].product,
    );
}

#[test]
fn counts_with_filters() {
    let rows = orders();
    let t = load(&rows);
    let n = |f: &dyn Fn(&Order) -> bool| rows.iter().filter(|o| f(o)).count().to_string();
    check(
        &t,
        "How many orders are there?",
        Shape::Count,
        &n(&|_| true),
    );
    check(
        &t,
        "How many orders have status shipped?",
        Shape::Count,
        &n(&|o| o.status == "shipped"),
    );
    check(
        &t,
        "How many orders from the West region are pending?",
        Shape::Count,
        &n(&|o| o.region == "West" && o.status == "pending"),
    );
    check(
        &t,
        "How many orders did Chen Wei place?",
        Shape::Count,
        &n(&|o| o.customer == "Chen Wei"),
    );
    check(
        &t,
        "How many orders are not cancelled?",
        Shape::Count,
        &n(&|o| o.status != "cancelled"),
    );
    check(
        &t,
        "How many orders were not in the East region?",
        Shape::Count,
        &n(&|o| o.region != "East"),
    );
    check(
        &t,
        "How many orders other than Widget orders are shipped?",
        Shape::Count,
        &n(&|o| o.product != "Widget" && o.status == "shipped"),
    );
    check(
        &t,
        "How many distinct customers bought a Gizmo?",
        Shape::Count,
        &{
            let mut c: Vec<&str> = rows
                .iter()
                .filter(|o| o.product == "Gizmo")
                .map(|o| o.customer)
                .collect();
            c.sort();
            c.dedup();
            c.len().to_string()
        },
    );
}

#[test]
fn sums_averages_minimums_maximums() {
    let rows = orders();
    let t = load(&rows);
    let sel =
        |f: &dyn Fn(&Order) -> bool| rows.iter().filter(|o| f(o)).cloned().collect::<Vec<_>>();
    let north = sel(&|o| o.region == "North");
    let q: i64 = north.iter().map(|o| o.quantity).sum();
    check(
        &t,
        "What is the total quantity for region North?",
        Shape::Aggregate,
        &q.to_string(),
    );
    let bob = sel(&|o| o.customer == "Bob Stone" && o.status == "shipped");
    let s: f64 = bob.iter().map(|o| o.unit_price).sum();
    check(
        &t,
        "What is the sum of unit price for Bob Stone's shipped orders?",
        Shape::Aggregate,
        &s.to_string(),
    );
    let east = sel(&|o| o.region == "East");
    let avg = east.iter().map(|o| o.unit_price).sum::<f64>() / east.len() as f64;
    check(
        &t,
        "What is the average unit price in the East region, rounded to 2 decimal places?",
        Shape::Aggregate,
        &format!("{avg:.2}"),
    );
    check(
        &t,
        "What is the mean quantity of Widget orders to the nearest whole number?",
        Shape::Aggregate,
        &{
            let w = sel(&|o| o.product == "Widget");
            format!(
                "{:.0}",
                w.iter().map(|o| o.quantity as f64).sum::<f64>() / w.len() as f64
            )
        },
    );
    let g = sel(&|o| o.product == "Gadget");
    let max = g.iter().map(|o| o.unit_price).fold(f64::MIN, f64::max);
    check(
        &t,
        "What is the highest unit price of a Gadget?",
        Shape::Aggregate,
        &format!("{max}"),
    );
    let min = g.iter().map(|o| o.quantity).min().expect("rows");
    check(
        &t,
        "What is the minimum quantity for Gadget?",
        Shape::Aggregate,
        &min.to_string(),
    );
    let first = rows.iter().map(|o| o.date.clone()).min().expect("rows");
    check(
        &t,
        "What is the earliest order date?",
        Shape::Aggregate,
        &first,
    );
}

#[test]
fn comparisons_on_numbers_and_years() {
    let rows = orders();
    let t = load(&rows);
    let n = |f: &dyn Fn(&Order) -> bool| rows.iter().filter(|o| f(o)).count().to_string();
    check(
        &t,
        "How many orders have a unit price above 100?",
        Shape::Count,
        &n(&|o| o.unit_price > 100.0),
    );
    check(
        &t,
        "How many orders have a quantity of at least 5?",
        Shape::Count,
        &n(&|o| o.quantity >= 5),
    );
    check(
        &t,
        "How many orders have quantity 3 or less?",
        Shape::Count,
        &n(&|o| o.quantity <= 3),
    );
    check(
        &t,
        "How many orders were placed in 2023 or later?",
        Shape::Count,
        &n(&|o| o.date.as_str() >= "2023"),
    );
    check(
        &t,
        "How many orders were placed before 2023?",
        Shape::Count,
        &n(&|o| o.date.as_str() < "2023"),
    );
    check(
        &t,
        "How many orders have a quantity between 2 and 4?",
        Shape::Count,
        &n(&|o| (2..=4).contains(&o.quantity)),
    );
    let s: i64 = rows
        .iter()
        .filter(|o| o.unit_price < 50.0 && o.region == "South")
        .map(|o| o.quantity)
        .sum();
    check(
        &t,
        "What is the total quantity of South orders with a unit price below 50?",
        Shape::Aggregate,
        &s.to_string(),
    );
}

#[test]
fn arithmetic_of_two_columns() {
    let rows = orders();
    let t = load(&rows);
    let o = &rows[22];
    check(
        &t,
        &format!(
            "What is the quantity times the unit price for order {}?",
            o.id
        ),
        Shape::Lookup,
        &format!("{}", o.quantity as f64 * o.unit_price),
    );
    let total: f64 = rows
        .iter()
        .filter(|o| o.status == "shipped")
        .map(|o| o.quantity as f64 * o.unit_price)
        .sum();
    check(
        &t,
        "What is the total of quantity times unit price for shipped orders, rounded to 2 decimals?",
        Shape::Aggregate,
        &format!("{total:.2}"),
    );
}

#[test]
fn groups_with_the_most_rows_or_the_largest_sum() {
    let rows = orders();
    let t = load(&rows);
    let mut by_region: BTreeMap<&str, f64> = BTreeMap::new();
    let mut qty_by_customer: BTreeMap<&str, f64> = BTreeMap::new();
    let mut fewest_product: BTreeMap<&str, f64> = BTreeMap::new();
    for o in &rows {
        *by_region.entry(o.region).or_default() += 1.0;
        *qty_by_customer.entry(o.customer).or_default() += o.quantity as f64;
        *fewest_product.entry(o.product).or_default() += 1.0;
    }
    check(
        &t,
        "Which region has the most orders?",
        Shape::Group,
        &ties(&by_region, true),
    );
    check(
        &t,
        "Which customer has the largest total quantity?",
        Shape::Group,
        &ties(&qty_by_customer, true),
    );
    check(
        &t,
        "Which product has the fewest orders?",
        Shape::Group,
        &ties(&fewest_product, false),
    );
    let top = rows.iter().map(|o| o.unit_price).fold(f64::MIN, f64::max);
    let who: Vec<String> = rows
        .iter()
        .filter(|o| o.unit_price == top)
        .map(|o| o.id.to_string())
        .collect();
    check(
        &t,
        "Which order_id has the highest unit price?",
        Shape::Extreme,
        &who.join(", "),
    );
    let mut by_month: BTreeMap<String, f64> = BTreeMap::new();
    for o in &rows {
        *by_month.entry(o.date[..7].to_owned()).or_default() += 1.0;
    }
    check(
        &t,
        "Which month has the most orders?",
        Shape::Group,
        &ties(&by_month, true),
    );
}

#[test]
fn months_and_date_prefixes() {
    let rows = orders();
    let t = load(&rows);
    let n = |f: &dyn Fn(&Order) -> bool| rows.iter().filter(|o| f(o)).count().to_string();
    check(
        &t,
        "How many orders were placed in March 2024?",
        Shape::Count,
        &n(&|o| o.date.starts_with("2024-03")),
    );
    let q: i64 = rows
        .iter()
        .filter(|o| &o.date[5..7] == "06")
        .map(|o| o.quantity)
        .sum();
    check(
        &t,
        "What is the total quantity in June?",
        Shape::Aggregate,
        &q.to_string(),
    );
    check(
        &t,
        "How many orders were placed in 2023?",
        Shape::Count,
        &n(&|o| o.date.starts_with("2023")),
    );
    let d = rows[5].date.clone();
    check(
        &t,
        &format!("How many orders on {d}?"),
        Shape::Count,
        &n(&|o| o.date == d),
    );
    check(
        &t,
        "How many shipped orders in 2024-02?",
        Shape::Count,
        &n(&|o| o.date.starts_with("2024-02") && o.status == "shipped"),
    );
}

#[test]
fn questions_it_cannot_map_are_refused_not_guessed() {
    let t = load(&orders());
    refused(&t, "How many orders did Zelda place?");
    refused(&t, "What is the total discount for region North?");
    refused(&t, "How many orders have a weight above 20?");
    refused(&t, "What is the customer of order 99999?");
    refused(&t, "Tell me a story");
    refused(&t, "How many days until my flight?");
}
