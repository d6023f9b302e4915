"""Bench data for the Deals API: 200,000 deals of 50,000 clients with journals, policies and payments in one tenant.

    .venv/bin/python bench/deals_data.py              # create, migrate and seed (about a minute), once
    .venv/bin/python bench/deals_data.py --reseed     # drop and rebuild

PostgreSQL at `--db-url` (default `postgres://postgres@127.0.0.1:5432/crm_bench_deals`). The tenant `bench-deals`
(Europe/Moscow) has an owner and 20 managers, 50,000 clients (names, tax numbers, 1-2 contacts each), 200,000 deals
created over two years in every status, 100,000 journal notes, a policy for each active deal and half the closed ones
(about 80,000) and two payments per policy. A second tenant holds 10,000 more deals, so the tenant filter has
something to skip. Rows go in with COPY (bench data, not behaviour); VACUUM ANALYZE runs at the end.
"""

import argparse
import datetime
import os
import random
import sys
import time
import uuid
from pathlib import Path

import harness  # a sibling script: bench/ is on the path
import psycopg

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/crm_bench_deals"
SLUG = "bench-deals"
NOISE_SLUG = "bench-deals-noise"
PASSWORD = "Kx9-quiet-Harbor-71"
DEALS, CLIENTS = 200_000, 50_000
NOISE_DEALS, NOISE_CLIENTS = 10_000, 2_500
JOURNAL_NOTES = 100_000
MANAGERS = 20
ENV = {
    "DJANGO_SETTINGS_MODULE": "crm.settings",
    "DEBUG": "0",
    "SECRET_KEY": "bench-deals-not-a-secret-0123456789abcdef0123",
    "ALLOWED_HOSTS": "127.0.0.1",
    "THROTTLE_USER_RATE": "1000000/s",
    "THROTTLE_TENANT_RATE": "1000000/s",
    "LOG_LEVEL": "WARNING",
    "ACCESS_TOKEN_MINUTES": "1440",
}

SURNAMES = [
    "Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков", "Фёдоров",
    "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов", "Степанов", "Николаев",
    "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев",
]  # fmt: skip
FIRST_NAMES = ["Александр", "Сергей", "Дмитрий", "Андрей", "Алексей", "Максим", "Евгений", "Иван", "Михаил", "Артём"]
COMPANY_WORDS = [
    "Север", "Вектор", "Альфа", "Гранит", "Меридиан", "Орион", "Техно", "Строй", "Лидер", "Восход", "Прогресс",
    "Сфера", "Капитал", "Логистик", "Агро", "Энерго", "Транс", "Инвест", "Сервис", "Групп", "Ресурс", "Монолит",
]  # fmt: skip
PRODUCTS = ["КАСКО", "ОСАГО", "ДМС", "Ипотека", "Имущество", "Грузы", "ВЗР", "НС", "Ответственность", "Спецтехника"]
OBJECTS = [
    "Toyota Camry", "Kia Rio", "Hyundai Solaris", "Lada Vesta", "Skoda Octavia", "BMW X5", "Haval Jolion",
    "Chery Tiggo", "склад", "офис", "сотрудники", "квартира", "дом", "груз", "экскаватор", "погрузчик",
]  # fmt: skip
INSURERS = ["Ингосстрах", "РЕСО-Гарантия", "СОГАЗ", "Альфастрахование", "ВСК", "Ренессанс", "Согласие"]
NOTES = [
    "Клиент запросил расчёт по {obj}",
    "Отправили КП, ждём ответа",
    "Звонок: клиент сравнивает с предложением конкурента",
    "Получены документы по {obj}",
    "Согласовали скидку на продление",
    "Напомнить о сроке оплаты",
]
# Deal statuses with their shares: every status is present, a third of the book is active.
STATUSES = [("draft", 15), ("estimating", 15), ("awaiting_client", 10), ("issuing", 10), ("active", 30), ("closed", 20)]


def django_setup(db_url: str, settings_module: str = "crm.settings") -> None:
    os.environ.update(ENV, DATABASE_URL=db_url, DJANGO_SETTINGS_MODULE=settings_module)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _people(tenant, slug: str):
    from django.contrib.auth.hashers import make_password

    from crm.models import Role, User
    from crm.services import user_create

    owner = user_create(tenant=tenant, username=f"{slug}-owner", password=PASSWORD, role=Role.OWNER)
    password = make_password(PASSWORD)
    managers = User.objects.bulk_create(
        User(tenant=tenant, username=f"{slug}-m{i}", password=password, role=Role.MANAGER, full_name=f"Менеджер {i}")
        for i in range(MANAGERS)
    )
    return owner, managers


def _client_rows(tenant_id: int, count: int, rng: random.Random, now: datetime.datetime, prefix: str):
    from deals.models import Client

    for index in range(count):
        is_company = rng.random() < 0.7
        if is_company:
            words = rng.sample(COMPANY_WORDS, 2)
            full_name, short_name = f"ООО «{words[0]}{words[1].lower()}-{index}»", f"{words[0]}{words[1].lower()}"
            tax_number = f"{prefix}{index:08d}"
        else:
            surname = rng.choice(SURNAMES)
            full_name, short_name = f"{surname} {rng.choice(FIRST_NAMES)} {index}", ""
            tax_number = f"{prefix}{index:010d}"
        if rng.random() < 0.1:
            tax_number = ""
        contacts = [{"type": "phone", "value": f"+79{rng.randrange(10**9):09d}", "name": "", "is_primary": True}]
        if rng.random() < 0.5:
            contacts.append({"type": "email", "value": f"client{index}@mail.example", "name": "", "is_primary": True})
        client = Client(full_name=full_name, short_name=short_name, tax_number=tax_number, contacts=contacts)
        client.refresh_search_text()
        created = now - datetime.timedelta(seconds=rng.uniform(0, 800 * 86_400))
        yield (
            _uuid(rng), tenant_id, created, created, "company" if is_company else "individual", full_name, short_name,
            tax_number, "", "SMB" if is_company else "", rng.choice(["potential", "active", "inactive"]),
            psycopg.types.json.Jsonb(contacts), "", client.search_text,
        )  # fmt: skip


CLIENT_COLUMNS = [
    "id", "tenant_id", "created_at", "updated_at", "type", "full_name", "short_name", "tax_number",
    "registration_number", "segment", "status", "contacts", "notes", "search_text",
]  # fmt: skip
DEAL_COLUMNS = [
    "id", "tenant_id", "created_at", "updated_at", "client_id", "title", "description", "status", "sales_agent_id",
    "executor_id", "expected_close_date", "tags", "folder_id",
]  # fmt: skip


def _tenant_seed(*, slug: str, deals: int, clients: int, notes: int, rng: random.Random, cursor) -> dict:
    from crm.services import tenant_create

    tenant = tenant_create(name=slug, slug=slug, timezone="Europe/Moscow")
    owner, managers = _people(tenant, slug)
    agents = [owner.uuid, *(manager.uuid for manager in managers)]
    now = datetime.datetime.now(datetime.UTC)
    client_rows = list(_client_rows(tenant.pk, clients, rng, now, "77" if slug == SLUG else "50"))
    _copy(cursor, "deals_client", CLIENT_COLUMNS, client_rows)
    client_ids = [row[0] for row in client_rows]
    statuses = [status for status, share in STATUSES for _ in range(share)]
    deal_rows, active, closed = [], [], []
    for index in range(deals):
        status = rng.choice(statuses)
        product, obj = rng.choice(PRODUCTS), rng.choice(OBJECTS)
        created = now - datetime.timedelta(seconds=rng.uniform(0, 730 * 86_400))
        deal_id = _uuid(rng)
        deal_rows.append(
            (
                deal_id, tenant.pk, created, created, rng.choice(client_ids), f"{product} {obj} №{index}",
                f"{product}: {obj}. Клиент просит расчёт у трёх страховщиков, срок до конца месяца.", status,
                rng.choice(agents), rng.choice(agents) if rng.random() < 0.5 else None,
                (created + datetime.timedelta(days=rng.randrange(10, 90))).date(),
                psycopg.types.json.Jsonb([product.lower()]), f"drive-{deal_id}",
            )
        )  # fmt: skip
        if status == "active":
            active.append((deal_id, created))
        elif status == "closed" and rng.random() < 0.5:
            closed.append((deal_id, created))
    _copy(cursor, "deals_deal", DEAL_COLUMNS, deal_rows)
    note_rows = (
        (
            _uuid(rng), tenant.pk, when, when, deal_id, rng.choice(agents), "note",
            rng.choice(NOTES).format(obj=rng.choice(OBJECTS)), psycopg.types.json.Jsonb([]),
        )
        for deal_id, when in (
            (row[0], row[2] + datetime.timedelta(hours=rng.randrange(1, 500)))
            for row in rng.choices(deal_rows, k=notes)
        )
    )  # fmt: skip
    _copy(
        cursor,
        "deals_journalentry",
        ["id", "tenant_id", "created_at", "updated_at", "deal_id", "author_id", "kind", "text", "attachments"],
        note_rows,
    )
    policy_rows, payment_rows = [], []
    for number, (deal_id, created) in enumerate(active + closed):
        policy_id, starts = _uuid(rng), created.date() + datetime.timedelta(days=rng.randrange(5, 60))
        premium = round(rng.uniform(5_000, 500_000), 2)
        policy_rows.append(
            (
                policy_id, tenant.pk, created, created, deal_id, f"{slug[-5:].upper()}-{number:08d}",
                rng.choice(INSURERS), "", starts, starts + datetime.timedelta(days=364), premium,
                premium * 100, "active" if number < len(active) else "closed", psycopg.types.json.Jsonb([]),
            )
        )  # fmt: skip
        for payment_type, amount, status in (
            ("client_premium", premium, "received"),
            ("commission_income", round(premium * 0.15, 2), "planned"),
        ):
            payment_rows.append(
                (
                    _uuid(rng), tenant.pk, created, created, deal_id, policy_id, payment_type, status, starts, amount,
                    "RUB", None, "",
                )
            )  # fmt: skip
    _copy(
        cursor,
        "deals_policy",
        [
            "id", "tenant_id", "created_at", "updated_at", "deal_id", "policy_number", "insurer", "program_name",
            "effective_from", "effective_to", "premium_amount", "coverage_sum", "status", "documents",
        ],
        policy_rows,
    )  # fmt: skip
    _copy(
        cursor,
        "deals_payment",
        [
            "id", "tenant_id", "created_at", "updated_at", "deal_id", "policy_id", "payment_type", "status",
            "planned_date", "amount", "currency", "external_ref", "notes",
        ],
        payment_rows,
    )  # fmt: skip
    return {
        "deals": len(deal_rows),
        "clients": len(client_rows),
        "policies": len(policy_rows),
        "payments": len(payment_rows),
    }


def seed() -> None:
    """Migrate and fill the bench database unless it already holds the data."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from deals.models import Deal, DealWeekCount, PaymentCount

    call_command("migrate", verbosity=0)
    if Deal.objects.filter(tenant__slug=SLUG).count() == DEALS:
        print(f"Data present: {DEALS:,} deals in tenant {SLUG}.")
        return
    started = time.monotonic()
    rng = random.Random(2026)
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        main = _tenant_seed(slug=SLUG, deals=DEALS, clients=CLIENTS, notes=JOURNAL_NOTES, rng=rng, cursor=raw)
        _tenant_seed(slug=NOISE_SLUG, deals=NOISE_DEALS, clients=NOISE_CLIENTS, notes=5_000, rng=rng, cursor=raw)
    with connection.cursor() as cursor:
        # The counter triggers wrote one row version per COPYed deal and payment in that one transaction (the deal
        # week counters were 14 MB for 1,260 rows, and summing a tenant's 630 cost 0.5 ms instead of 0.16). Steady
        # traffic commits each increment, so pruning and autovacuum keep such a table small; compact it as they would.
        cursor.execute(f"VACUUM FULL {DealWeekCount._meta.db_table}, {PaymentCount._meta.db_table}")
        cursor.execute("VACUUM ANALYZE")
    print(f"Seeded {main} (+ a noise tenant) in {time.monotonic() - started:.0f} s.")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", default=DEFAULT_DB_URL)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args(argv)
    harness.database_ensure(args.db_url, reseed=args.reseed)
    django_setup(args.db_url)
    seed()


if __name__ == "__main__":
    main()
