#!/usr/bin/env python3
"""Makes the RAG evaluation set: three tables and questions with their exact answers.

The expected answers are computed here, in plain Python over the generated rows, independently
of the crate's SQL. Deterministic (fixed seed); rerun with `python3 eval/make.py` from
client/rag after changing it, and commit the outputs.
"""
import csv, json, os, random
from collections import defaultdict

rng = random.Random(15)
here = os.path.dirname(os.path.abspath(__file__))

# --- sales.csv -------------------------------------------------------------------------------
REGIONS = ["North", "South", "East", "West"]
CATEGORIES = {"Electronics": ["Laptop", "Headphones", "Monitor"], "Furniture": ["Desk", "Chair", "Bookshelf"],
              "Stationery": ["Notebook", "Pen Set", "Stapler"]}
PEOPLE = ["Priya Shah", "Tom Becker", "Lena Ortiz", "Omar Haddad", "Grace Kim"]
sales = []
for i in range(150):
    cat = rng.choice(sorted(CATEGORIES))
    sales.append({
        "sale_id": 1001 + i,
        "date": f"{rng.choice([2022, 2023, 2024])}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "region": rng.choice(REGIONS),
        "category": cat,
        "product": rng.choice(CATEGORIES[cat]),
        "salesperson": rng.choice(PEOPLE),
        "quantity": rng.randint(1, 20),
        "unit_price": round(rng.uniform(2, 900), 2),
    })
with open(os.path.join(here, "sales.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(sales[0]))
    w.writeheader()
    for s in sales:
        w.writerow({**s, "unit_price": f"{s['unit_price']:.2f}"})

# --- employees.csv ---------------------------------------------------------------------------
FIRST = ["Maria", "John", "Aisha", "Kenji", "Sofia", "Liam", "Noor", "Pavel", "Chloe", "Diego", "Hana", "Ivan",
         "Jade", "Kofi", "Lucia", "Mateo", "Nina", "Oscar", "Petra", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera"]
LAST = ["Lopez", "Smith", "Khan", "Tanaka", "Rossi", "Murphy", "Ali", "Novak", "Dubois", "Garcia"]
DEPTS = ["Engineering", "Marketing", "Finance", "Support"]
CITIES = ["Berlin", "Lisbon", "Toronto", "Nairobi"]
names = set()
employees = []
while len(employees) < 60:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if name in names:
        continue
    names.add(name)
    employees.append({
        "emp_id": f"E-{101 + len(employees)}",
        "name": name,
        "department": rng.choice(DEPTS),
        "city": rng.choice(CITIES),
        "salary": rng.randrange(42000, 140000, 500),
        "hire_date": f"{rng.randint(2012, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    })
with open(os.path.join(here, "employees.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(employees[0]))
    w.writeheader()
    w.writerows(employees)

# --- films.json ------------------------------------------------------------------------------
ADJ = ["Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Distant", "Electric", "Paper", "Winter"]
NOUN = ["Harbor", "Orchard", "Signal", "Kingdom", "Letters", "Tide", "Mirror", "Garden", "Engine", "Road"]
DIRECTORS = ["Ana Ferreira", "Ben Okoro", "Claire Dumont", "Dev Patel", "Elsa Lind"]
GENRES = ["Drama", "Comedy", "Thriller", "Documentary"]
titles = set()
films = []
while len(films) < 45:
    title = f"The {rng.choice(ADJ)} {rng.choice(NOUN)}"
    if title in titles:
        continue
    titles.add(title)
    films.append({
        "title": title,
        "director": rng.choice(DIRECTORS),
        "release_year": rng.randint(2000, 2024),
        "genre": rng.choice(GENRES),
        "rating": round(rng.uniform(4.0, 9.5), 1),
        "box_office": round(rng.uniform(0.5, 400), 1),
        "runtime": rng.randint(80, 170),
    })
with open(os.path.join(here, "films.json"), "w") as f:
    json.dump({"catalogue": "home cinema list", "films": films}, f, indent=1)

# --- questions -------------------------------------------------------------------------------
def num(x):
    return str(x) if isinstance(x, int) else repr(x)

def ties(groups, best):
    want = best(groups.values())
    return ", ".join(sorted(k for k, v in groups.items() if v == want))

Q = []
def q(shape, question, answer):
    Q.append((shape, question, answer))

s42, s7 = sales[41], sales[6]
e17 = employees[16]
f3 = films[3]
q("lookup", f"What is the unit price of sale {s42['sale_id']}?", num(s42["unit_price"]))
q("lookup", f"What is the salary of employee {e17['emp_id']}?", num(e17["salary"]))
q("lookup", f"What is the director of {f3['title']}?", f3["director"])
q("lookup", f"What is the hire date of {employees[30]['name']}?", employees[30]["hire_date"])

q("count", "How many sales are in the North region?", num(sum(s["region"] == "North" for s in sales)))
q("count", "How many employees work in Engineering?", num(sum(e["department"] == "Engineering" for e in employees)))
q("count", "How many films are Drama?", num(sum(f["genre"] == "Drama" for f in films)))
q("count", "How many sales of category Electronics were made by Priya Shah?",
  num(sum(s["category"] == "Electronics" and s["salesperson"] == "Priya Shah" for s in sales)))

q("aggregate", "What is the total quantity sold in the West region?", num(sum(s["quantity"] for s in sales if s["region"] == "West")))
mk = [e["salary"] for e in employees if e["department"] == "Marketing"]
q("aggregate", "What is the average salary in the Marketing department, rounded to 2 decimal places?", f"{sum(mk) / len(mk):.2f}")
q("aggregate", "What is the highest rating of a Comedy film?", num(max(f["rating"] for f in films if f["genre"] == "Comedy")))
q("aggregate", "What is the lowest unit price in category Furniture?", num(min(s["unit_price"] for s in sales if s["category"] == "Furniture")))
q("aggregate", "What is the total box office of films directed by Claire Dumont?",
  num(sum(f["box_office"] for f in films if f["director"] == "Claire Dumont")))
dr = [f["runtime"] for f in films if f["genre"] == "Drama"]
q("aggregate", "What is the average runtime of Drama films, rounded to 1 decimal place?", f"{sum(dr) / len(dr):.1f}")

q("comparison", "How many films were released in 2015 or later?", num(sum(f["release_year"] >= 2015 for f in films)))
q("comparison", "How many employees have a salary above 90000?", num(sum(e["salary"] > 90000 for e in employees)))
q("comparison", "How many sales have a quantity of at least 10?", num(sum(s["quantity"] >= 10 for s in sales)))
q("comparison", "How many films have a rating below 6.5?", num(sum(f["rating"] < 6.5 for f in films)))
q("comparison", "How many employees were hired before 2018?", num(sum(e["hire_date"] < "2018" for e in employees)))

q("arithmetic", f"What is the quantity times the unit price for sale {s7['sale_id']}?", num(s7["quantity"] * s7["unit_price"]))
east = sum(s["quantity"] * s["unit_price"] for s in sales if s["region"] == "East")
q("arithmetic", "What is the total of quantity times unit price in the East region, rounded to 2 decimals?", f"{east:.2f}")
f9 = films[9]
q("arithmetic", f"What is the box office divided by the runtime for {f9['title']}, rounded to 3 decimal places?",
  f"{f9['box_office'] / f9['runtime']:.3f}")

def group(rows, key, val=lambda r: 1, agg=sum):
    g = defaultdict(list)
    for r in rows:
        g[key(r)].append(val(r))
    return {k: agg(v) for k, v in g.items()}

q("group", "Which region has the most sales?", ties(group(sales, lambda s: s["region"]), max))
q("group", "Which department has the largest total salary?", ties(group(employees, lambda e: e["department"], lambda e: e["salary"]), max))
q("group", "Which genre has the highest average rating?",
  ties(group(films, lambda f: f["genre"], lambda f: f["rating"], lambda v: sum(v) / len(v)), max))
q("group", "Which salesperson has the largest total quantity?", ties(group(sales, lambda s: s["salesperson"], lambda s: s["quantity"]), max))
q("group", "Which category has the fewest sales?", ties(group(sales, lambda s: s["category"]), min))
q("group", "Which city has the fewest employees?", ties(group(employees, lambda e: e["city"]), min))

top = max(f["box_office"] for f in films)
q("extreme", "What is the title of the film with the highest box office?", ", ".join(f["title"] for f in films if f["box_office"] == top))
low = min(e["salary"] for e in employees)
q("extreme", "What is the name of the employee with the lowest salary?", ", ".join(e["name"] for e in employees if e["salary"] == low))

q("date", "How many sales were made in March 2023?", num(sum(s["date"].startswith("2023-03") for s in sales)))
q("date", "What is the total quantity sold in December?", num(sum(s["quantity"] for s in sales if s["date"][5:7] == "12")))
y = employees[5]["hire_date"][:4]  # a year with at least one hire
q("date", f"How many employees were hired in {y}?", num(sum(e["hire_date"].startswith(y) for e in employees)))
d = sales[12]["date"]
q("date", f"How many sales on {d}?", num(sum(s["date"] == d for s in sales)))
q("date", "How many sales were made in 2024-07?", num(sum(s["date"].startswith("2024-07") for s in sales)))

# other phrasings of the same shapes
q("aggregate", "What's the sum of the quantity for Lena Ortiz?", num(sum(s["quantity"] for s in sales if s["salesperson"] == "Lena Ortiz")))
q("count", "Count the films by Ben Okoro.", num(sum(f["director"] == "Ben Okoro" for f in films)))
q("aggregate", "What is the maximum salary in Toronto?", num(max(e["salary"] for e in employees if e["city"] == "Toronto")))
q("count", "How many sales were not in the South region?", num(sum(s["region"] != "South" for s in sales)))
q("group", "Which director has the most films?", ties(group(films, lambda f: f["director"]), max))
r = [f["rating"] for f in films if f["release_year"] > 2010]
q("comparison", "What is the average rating of films released after 2010, rounded to 2 decimal places?", f"{sum(r) / len(r):.2f}")

q("refuse", "How many sales did Zorro make?", "REFUSED")
q("refuse", "What is the total discount in the North region?", "REFUSED")
q("refuse", "How many films have a budget above 100?", "REFUSED")

with open(os.path.join(here, "questions.tsv"), "w") as f:
    f.write("# shape\tquestion\texpected (REFUSED: must not get an exact answer)\n")
    for shape, question, answer in Q:
        f.write(f"{shape}\t{question}\t{answer}\n")
print(f"{len(Q)} questions")
