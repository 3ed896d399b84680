"""Synthetic people and their re-referrals, for bench/linkage.py (no real names of anyone
in particular: common first and family names drawn at random, dates at random).

A re-referral is the same person written down again by someone else: a nickname, the
family name first, a typo, a date of birth with day and month swapped or a digit wrong,
an Arabic name in Arabic script or in another Latin transliteration.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

LATIN_GIVEN = [
    "William", "Robert", "James", "Michael", "Thomas", "Alexander", "Katherine",
    "Elizabeth", "Jennifer", "Daniel", "David", "Joseph", "Samuel", "Benjamin", "Nicholas",
    "Christopher", "Matthew", "Anthony", "Stephen", "Andrew", "Edward", "Margaret", "Susan",
    "Abigail", "Rebecca", "Victoria", "Charles", "Henry", "John", "Emma", "Olivia", "Sophie",
    "Chloe", "Lucy", "Grace", "Jack", "Oliver", "Harry", "George", "Noah", "Leo", "Oscar",
    "Lukas", "Jonas", "Mia", "Lena", "Anna", "Marie", "Paul", "Felix", "Sara", "Ella",
    "Ryan", "Kevin", "Jason", "Laura", "Julia", "Nina", "Tobias", "Simon", "Peter", "Martin",
    "Patrick", "Richard", "Nathan", "Zachary", "Kimberly", "Megan", "Amy", "Holly",
]  # fmt: skip
NICK = {
    "William": ["Bill", "Will", "Billy"], "Robert": ["Bob", "Rob", "Bobby"],
    "James": ["Jim", "Jimmy", "Jamie"], "Michael": ["Mike", "Mick"],
    "Thomas": ["Tom", "Tommy"], "Alexander": ["Alex", "Sasha"],
    "Katherine": ["Kate", "Katie", "Cathy"], "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Jennifer": ["Jen", "Jenny"], "Daniel": ["Dan", "Danny"], "David": ["Dave"],
    "Joseph": ["Joe", "Joey"], "Samuel": ["Sam", "Sammy"], "Benjamin": ["Ben", "Benny"],
    "Nicholas": ["Nick"], "Christopher": ["Chris"], "Matthew": ["Matt"],
    "Anthony": ["Tony"], "Stephen": ["Steve"], "Andrew": ["Andy", "Drew"],
    "Edward": ["Ed", "Eddie", "Ted"], "Margaret": ["Maggie", "Meg", "Peggy"],
    "Susan": ["Sue", "Susie"], "Abigail": ["Abby"], "Rebecca": ["Becky"],
    "Victoria": ["Vicky"], "Charles": ["Charlie"], "Henry": ["Harry"], "John": ["Jack"],
    "Patrick": ["Pat"], "Richard": ["Rick", "Rich"], "Nathan": ["Nate"], "Zachary": ["Zach"],
    "Mohammed": ["Mo"], "Abdullah": ["Abdo"],
}  # fmt: skip
LATIN_FAMILY = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Patel", "Khan", "Lewis", "Harris", "Martin", "Cooper",
    "Ward", "Morris", "Turner", "Baker", "Hughes", "Edwards", "Collins", "Stewart", "Murphy",
    "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schroeder", "Neumann",
    "Jansen", "de Vries", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
    "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "Dekker", "Brouwer", "Novak",
    "Kowalski", "Nowak", "Horvat", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi",
    "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "Costa",
    "Garcia", "Martinez", "Lopez", "Sanchez", "Perez", "Gomez", "Fernandez", "Ruiz",
    "Dubois", "Moreau", "Laurent", "Lefebvre", "Leroy", "Fontaine", "Chevalier", "Yilmaz",
    "Kaya", "Demir", "Celik", "Sahin", "Ozturk", "Aydin", "Arslan", "Dogan", "Kilic",
]  # fmt: skip
# Arabic names: the Arabic script, then the Latin spellings people write.
ARABIC_GIVEN = [
    ("محمد", ["Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed"]),
    ("أحمد", ["Ahmed", "Ahmad"]),
    ("يوسف", ["Youssef", "Yusuf", "Yousef", "Yousif"]),
    ("فاطمة", ["Fatima", "Fatma", "Fatimah"]),
    ("عمر", ["Omar", "Umar"]),
    ("خالد", ["Khalid", "Khaled"]),
    ("علي", ["Ali"]),
    ("حسن", ["Hassan", "Hasan"]),
    ("حسين", ["Hussein", "Hussain", "Husain"]),
    ("إبراهيم", ["Ibrahim", "Ebrahim"]),
    ("مريم", ["Maryam", "Mariam"]),
    ("عائشة", ["Aisha", "Aysha", "Aicha"]),
    ("زينب", ["Zainab", "Zaynab", "Zeinab"]),
    ("مصطفى", ["Mustafa", "Moustafa", "Mostafa"]),
    ("عبد الله", ["Abdullah", "Abdallah", "Abd Allah"]),
    ("عبد الرحمن", ["Abdulrahman", "Abdul Rahman", "Abdelrahman"]),
    ("سارة", ["Sara", "Sarah"]),
    ("نور", ["Nour", "Noor", "Nur"]),
    ("ياسين", ["Yassin", "Yasin", "Yassine"]),
    ("كريم", ["Karim", "Kareem"]),
    ("سمير", ["Samir", "Sameer"]),
    ("رشيد", ["Rachid", "Rashid", "Rasheed"]),
    ("ليلى", ["Layla", "Leila", "Laila"]),
    ("حمزة", ["Hamza", "Hamzah"]),
    ("بلال", ["Bilal"]),
    ("طارق", ["Tariq", "Tarek", "Tarik"]),
    ("أمين", ["Amin", "Amine", "Ameen"]),
    ("سليمان", ["Suleiman", "Sulaiman", "Soliman"]),
    ("هدى", ["Huda", "Hoda"]),
    ("جميلة", ["Jamila", "Djamila", "Jameela"]),
]  # fmt: skip
ARABIC_FAMILY = [
    ("الحسن", ["Al-Hassan", "Alhassan", "El Hassan", "Hassan"]),
    ("منصور", ["Mansour", "Mansur"]),
    ("حداد", ["Haddad", "Hadad"]),
    ("خوري", ["Khoury", "Khouri", "Khuri"]),
    ("صالح", ["Saleh", "Salih"]),
    ("عثمان", ["Othman", "Osman", "Uthman"]),
    ("ناصر", ["Nasser", "Nasir", "Naser"]),
    ("حمدان", ["Hamdan"]),
    ("العلي", ["Al-Ali", "El Ali"]),
    ("الأحمد", ["Al-Ahmad", "Al Ahmed"]),
    ("بكر", ["Bakr", "Bakir"]),
    ("عيسى", ["Issa", "Eissa", "Isa"]),
    ("جابر", ["Jaber", "Jabir"]),
    ("قاسم", ["Qasim", "Kassem", "Kasim"]),
    ("شريف", ["Sharif", "Cherif", "Sherif"]),
    ("يونس", ["Younes", "Yunus", "Younis"]),
    ("موسى", ["Moussa", "Musa", "Mousa"]),
    ("الزين", ["El Zein", "Al-Zein", "Zein"]),
    ("السيد", ["El Sayed", "Al-Sayed", "Elsayed"]),
    ("الخطيب", ["Al-Khatib", "El Khatib", "Khatib"]),
    ("المصري", ["Al-Masri", "El Masry"]),
    ("التميمي", ["Al-Tamimi", "Tamimi"]),
    ("الشامي", ["Al-Shami", "Shami"]),
    ("درويش", ["Darwish", "Derwish"]),
    ("عباس", ["Abbas"]),
    ("فارس", ["Fares", "Faris"]),
    ("حبيب", ["Habib"]),
    ("رحمن", ["Rahman"]),
    ("عزيز", ["Aziz"]),
    ("سعيد", ["Said", "Saeed", "Saied"]),
]  # fmt: skip


@dataclass(frozen=True)
class Record:
    """One referral's subject as written down: given name, family name, date of birth."""

    person: int
    given: str
    family: str
    dob: date | None


@dataclass(frozen=True)
class Person:
    arabic: bool
    given: int  # index into the name list
    family: int
    second_given: int | None
    dob: date


def person(rng: random.Random, index: int) -> Person:
    arabic = rng.random() < 0.4
    given_count = len(ARABIC_GIVEN if arabic else LATIN_GIVEN)
    family_count = len(ARABIC_FAMILY if arabic else LATIN_FAMILY)
    second = rng.randrange(given_count) if rng.random() < 0.25 else None
    dob = date(1996, 1, 1) + timedelta(days=rng.randrange(365 * 18))
    return Person(arabic, rng.randrange(given_count), rng.randrange(family_count), second, dob)


def _arabic(rng: random.Random, entry: tuple[str, list[str]], script: bool) -> str:
    return entry[0] if script else rng.choice(entry[1])


def written(rng: random.Random, p: Person, first: bool) -> tuple[str, str]:
    """The names as one referrer writes them (a first referral: the usual spelling)."""
    if p.arabic:
        script = not first and rng.random() < 0.35
        given = (
            ARABIC_GIVEN[p.given][1][0] if first else _arabic(rng, ARABIC_GIVEN[p.given], script)
        )
        family = (
            ARABIC_FAMILY[p.family][1][0]
            if first
            else _arabic(rng, ARABIC_FAMILY[p.family], script)
        )
        if p.second_given is not None:
            given += " " + (
                ARABIC_GIVEN[p.second_given][1][0]
                if first
                else _arabic(rng, ARABIC_GIVEN[p.second_given], script)
            )
        return given, family
    given = LATIN_GIVEN[p.given]
    if not first and given in NICK and rng.random() < 0.3:
        given = rng.choice(NICK[given])
    if p.second_given is not None and (first or rng.random() < 0.6):
        given += " " + LATIN_GIVEN[p.second_given]
    return given, LATIN_FAMILY[p.family]


def typo(rng: random.Random, text: str) -> str:
    """One keyboard slip in a Latin name: a letter dropped, doubled, changed or swapped."""
    if len(text) < 4 or not text.isascii():
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2:
        return text[:i] + rng.choice("aeioulnrst") + text[i + 1 :]
    return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]


def dob_error(rng: random.Random, dob: date) -> date | None:
    """A date written wrong: day and month swapped, a day off, a year's digit wrong, none."""
    roll = rng.random()
    if roll < 0.4 and dob.day <= 12:
        return date(dob.year, dob.day, dob.month)
    if roll < 0.7:
        return dob + timedelta(days=rng.choice((-1, 1)))
    if roll < 0.9:
        try:
            return dob.replace(year=dob.year + rng.choice((-1, 1)))
        except ValueError:
            return dob
    return None


def re_referral(rng: random.Random, index: int, p: Person) -> Record:
    """The same person referred again, by someone who writes them down differently."""
    given, family = written(rng, p, first=False)
    if rng.random() < 0.2:
        if rng.random() < 0.5:
            given = typo(rng, given)
        else:
            family = typo(rng, family)
    dob: date | None = p.dob
    if rng.random() < 0.12:
        dob = dob_error(rng, p.dob)
    if rng.random() < 0.15:
        given, family = family, given
    return Record(index, given, family, dob)


def population(
    n: int, share_referred_again: float, seed: int = 12
) -> tuple[list[Record], list[Record]]:
    """n people's first referrals, and re-referrals of a share of them (the queries), plus
    as many first referrals of new people among the queries (who must match nobody)."""
    rng = random.Random(seed)
    people = [person(rng, i) for i in range(n)]
    first = [Record(i, *written(rng, p, first=True), p.dob) for i, p in enumerate(people)]
    again = [
        re_referral(rng, i, people[i]) for i in rng.sample(range(n), int(n * share_referred_again))
    ]
    newcomers = [person(rng, n + i) for i in range(len(again))]
    fresh = [Record(n + i, *written(rng, p, first=True), p.dob) for i, p in enumerate(newcomers)]
    return first, again + fresh
