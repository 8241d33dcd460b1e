"""OCR & Document Understanding: receipts, tables and forms rendered as text (DocVQA-like)."""

from __future__ import annotations

from llamav.bench.synth._common import DEFAULT_LEVEL, Template, by_level, canvas, font, money, text_center

CATEGORY = "OCR & Document Understanding"

SHOPS = ["CORNER MARKET", "BLUE OAK CAFE", "CITY HARDWARE", "GREEN GROCER", "PAPER & INK", "SUNRISE BAKERY"]
ITEMS = [
    "Coffee", "Bagel", "Milk 1L", "Bread", "Eggs x12", "Apples", "Tea", "Cheese", "Pasta", "Rice 2kg",
    "Pencils", "Notebook", "Tape", "Batteries", "Soap", "Juice", "Yogurt", "Butter", "Honey", "Muffin",
]
FIRST_NAMES = ["Maria", "Jonas", "Priya", "Kofi", "Lena", "Tomas", "Aiko", "Omar", "Sofia", "Ravi", "Nora", "Pablo"]
LAST_NAMES = ["Keller", "Okafor", "Silva", "Novak", "Haddad", "Larsen", "Moreau", "Tanaka", "Ibrahim", "Costa"]
SUBJECTS = ["Math", "Physics", "History", "Biology", "Art", "Music", "English"]
CITIES = ["Lisbon", "Nairobi", "Toronto", "Krakow", "Osaka", "Bogota", "Dublin", "Mumbai", "Tunis", "Perth"]


# -- receipt -------------------------------------------------------------------------------------


class ReceiptTotal(Template):
    name = "receipt_total"
    category = CATEGORY
    answer_type = "decimal"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        names = rng.sample(ITEMS, rng.randint(*by_level(level, (2, 3), (3, 4), (3, 6))))
        lines = [
            {"item": name, "qty": rng.choice([1, 1, 1, 2, 2, 3, 4]), "cents": rng.randrange(50, 1500, 5)}
            for name in names
        ]
        return {
            "shop": rng.choice(SHOPS),
            "date": f"{rng.randint(2019, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "lines": lines,
        }

    def question(self, scene):
        return (
            "The total line of this receipt has been left blank. Using the amounts printed for each item, "
            "what is the total in dollars? Give the amount with two decimal places."
        )

    def solve(self, scene):
        return money(sum(line["qty"] * line["cents"] for line in scene["lines"]))

    def render(self, scene):
        height = 210 + 30 * len(scene["lines"])
        image, draw = canvas(400, height, (236, 236, 236))
        draw.rectangle((30, 10, 370, height - 10), fill="white", outline=(180, 180, 180))
        text_center(draw, (200, 38), scene["shop"], 20)
        text_center(draw, (200, 64), f"Date: {scene['date']}", 14)
        draw.text((50, 92), "QTY ITEM", font=font(14), fill="black")
        draw.text((350, 92), "AMOUNT", font=font(14), fill="black", anchor="ra")
        draw.line((50, 112, 350, 112), fill="black")
        y = 124
        for line in scene["lines"]:
            draw.text((50, y), f"{line['qty']} x {line['item']}", font=font(16), fill="black")
            draw.text((50, y + 17), f"   @ {money(line['cents'])} each", font=font(12), fill=(90, 90, 90))
            draw.text((350, y), money(line["qty"] * line["cents"]), font=font(16), fill="black", anchor="ra")
            y += 30
        draw.line((50, y + 4, 350, y + 4), fill="black")
        draw.text((50, y + 16), "TOTAL", font=font(18), fill="black")
        draw.line((260, y + 34, 350, y + 34), fill="black")
        text_center(draw, (200, height - 40), "THANK YOU!", 14)
        return image

    def chain(self, scene):
        amounts = [line["qty"] * line["cents"] for line in scene["lines"]]
        readings = "; ".join(
            f"{line['qty']} x {line['item']} = {money(amount)}" for line, amount in zip(scene["lines"], amounts)
        )
        total = money(sum(amounts))
        return [
            f"The image is a receipt from {scene['shop']} dated {scene['date']} with {len(amounts)} item "
            "lines and an empty TOTAL line.",
            f"The amount column reads: {readings}.",
            f"Adding the amounts: {' + '.join(money(a) for a in amounts)} = {total}.",
            f"The total is ${total}. Final answer: {total}.",
        ]


# -- table ---------------------------------------------------------------------------------------


class TableLookup(Template):
    name = "table_lookup"
    category = CATEGORY
    answer_type = "integer"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        students = rng.sample(FIRST_NAMES, rng.randint(*by_level(level, (2, 3), (3, 5), (4, 6))))
        subjects = rng.sample(SUBJECTS, rng.randint(*by_level(level, (2, 2), (2, 3), (3, 4))))
        scores = [[rng.randint(35, 100) for _ in subjects] for _ in students]
        return {
            "students": students, "subjects": subjects, "scores": scores,
            "row": rng.randrange(len(students)), "column": rng.randrange(len(subjects)),
        }

    def question(self, scene):
        student, subject = scene["students"][scene["row"]], scene["subjects"][scene["column"]]
        return f"According to the table of exam scores, what score did {student} get in {subject}?"

    def solve(self, scene):
        return str(scene["scores"][scene["row"]][scene["column"]])

    def render(self, scene):
        rows, cols = len(scene["students"]), len(scene["subjects"])
        cell_w, cell_h, left = 86, 34, 20
        width = left * 2 + cell_w * (cols + 1)
        image, draw = canvas(max(width, 360), 90 + cell_h * (rows + 1))
        text_center(draw, (image.width / 2, 26), "Exam scores, spring term", 18)
        top = 56
        draw.rectangle((left, top, left + cell_w * (cols + 1), top + cell_h), fill=(220, 230, 245))
        for c, header in enumerate(["Student", *scene["subjects"]]):
            text_center(draw, (left + cell_w * (c + 0.5), top + cell_h / 2), header, 15)
        for r, student in enumerate(scene["students"]):
            y = top + cell_h * (r + 1.5)
            text_center(draw, (left + cell_w * 0.5, y), student, 15)
            for c, score in enumerate(scene["scores"][r]):
                text_center(draw, (left + cell_w * (c + 1.5), y), str(score), 15)
        for r in range(rows + 2):
            draw.line((left, top + cell_h * r, left + cell_w * (cols + 1), top + cell_h * r), fill="black")
        for c in range(cols + 2):
            draw.line((left + cell_w * c, top, left + cell_w * c, top + cell_h * (rows + 1)), fill="black")
        return image

    def chain(self, scene):
        r, c = scene["row"], scene["column"]
        student, subject = scene["students"][r], scene["subjects"][c]
        score = scene["scores"][r][c]
        return [
            f"The table lists {len(scene['students'])} students in rows and the subjects "
            f"{', '.join(scene['subjects'])} in columns.",
            f"{student} is in row {r + 1} of the table, and {subject} is column {c + 2} (after the Student column).",
            f"The cell where {student}'s row meets the {subject} column reads {score}.",
            f"So {student} scored {score} in {subject}. Final answer: {score}.",
        ]


# -- form ----------------------------------------------------------------------------------------

FORM_FIELDS = [
    ("full_name", "Full name", "the applicant's full name"),
    ("birth_date", "Date of birth", "the applicant's date of birth"),
    ("city", "City", "the city"),
    ("member_no", "Membership no.", "the membership number"),
    ("phone", "Phone", "the phone number"),
]


class FormField(Template):
    name = "form_field"
    category = CATEGORY
    answer_type = "text"

    def make_scene(self, rng, level=DEFAULT_LEVEL):
        values = {
            "full_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "birth_date": f"{rng.randint(1,28):02d}/{rng.randint(1,12):02d}/{rng.randint(1950, 2006)}",
            "city": rng.choice(CITIES),
            "member_no": f"{rng.choice('ABCDEFGHKLMNPRST')}{rng.choice('ABCDEFGHKLMNPRST')}-{rng.randint(10000, 99999)}",
            "phone": f"0{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        }
        return {
            "title": rng.choice(["LIBRARY MEMBERSHIP FORM", "SPORTS CLUB REGISTRATION", "VOLUNTEER SIGN-UP FORM"]),
            "values": values,
            "asked": rng.choice([key for key, _, _ in FORM_FIELDS]),
        }

    def _field(self, scene):
        return next(f for f in FORM_FIELDS if f[0] == scene["asked"])

    def question(self, scene):
        return f"What is {self._field(scene)[2]} on this form? Answer exactly as written."

    def solve(self, scene):
        return scene["values"][scene["asked"]]

    def render(self, scene):
        image, draw = canvas(440, 330, (245, 243, 235))
        text_center(draw, (220, 30), scene["title"], 18)
        draw.line((30, 50, 410, 50), fill="black", width=2)
        for i, (key, label, _) in enumerate(FORM_FIELDS):
            y = 90 + i * 44
            draw.text((34, y), label + ":", font=font(15), fill="black", anchor="ls")
            draw.line((170, y + 4, 410, y + 4), fill=(120, 120, 120))
            # Filled-in answers in blue, like ink on a printed form.
            draw.text((176, y), scene["values"][key], font=font(17), fill=(20, 40, 160), anchor="ls")
        draw.text((34, 310), "Signature: ______________", font=font(13), fill="black", anchor="ls")
        return image

    def chain(self, scene):
        key, label, description = self._field(scene)
        value = scene["values"][key]
        position = [k for k, _, _ in FORM_FIELDS].index(key) + 1
        return [
            f"The image is a filled-in form titled \"{scene['title']}\" with {len(FORM_FIELDS)} labelled fields.",
            f"The question asks for {description}, which is the field labelled \"{label}\" (line "
            f"{position} of the form).",
            f"The entry filled in on that line, in blue ink, reads \"{value}\".",
            f"Final answer: {value}.",
        ]


TEMPLATES = [ReceiptTotal(), TableLookup(), FormField()]
