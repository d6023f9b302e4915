"""Locust users of `bench/load_run.py`: a sales team's traffic (the plan of users and ids comes from LOAD_PLAN)."""

import itertools
import json
import os
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read())  # noqa: PTH123, SIM115 - read once at import
THINK = float(os.environ.get("LOAD_THINK", "1.0"))
_managers = itertools.cycle(PLAN["managers"])
_phones = itertools.count(1)
_PID = os.getpid() % 1000


def _think():
    return between(THINK * 0.5, THINK * 1.5)


class ManagerUser(FastHttpUser):
    """A manager working their own leads and deals."""

    weight = 8
    wait_time = _think()

    def on_start(self):
        self.me = next(_managers)
        self.headers = {"Authorization": f"Bearer {self.me['token']}"}

    @task(10)
    def lead_table(self):
        self.client.get(
            "/api/v2/leads/table?limit=50&ordering=-updated_at", headers=self.headers, name="GET /api/v2/leads/table"
        )

    @task(3)
    def move_lead(self):
        lead = random.choice(self.me["leads"])
        stage = random.choice(PLAN["stages"])
        self.client.patch(
            f"/api/leads/{lead}/stage",
            json={"stage_id": stage},
            headers=self.headers,
            name="PATCH /api/leads/{id}/stage",
        )

    @task(2)
    def create_task(self):
        lead = random.choice(self.me["leads"])
        self.client.post(
            f"/api/leads/{lead}/tasks",
            json={"type": "call", "due_at": "2026-12-01T10:00:00", "note": "Перезвонить"},
            headers=self.headers,
            name="POST /api/leads/{id}/tasks",
        )

    @task(2)
    def tasks_today(self):
        self.client.get("/api/tasks?status=open&due=today", headers=self.headers, name="GET /api/tasks?due=today")

    @task(1)
    def lead_detail(self):
        lead = random.choice(self.me["leads"])
        self.client.get(f"/api/leads/{lead}", headers=self.headers, name="GET /api/leads/{id}")

    @task(3)
    def deals(self):
        self.client.get("/api/v1/deals?limit=25", headers=self.headers, name="GET /api/v1/deals")

    @task(2)
    def payments(self):
        self.client.get("/api/v1/payments?limit=25", headers=self.headers, name="GET /api/v1/payments")

    @task(1)
    def plan_payment(self):
        deal_id, policy_id = random.choice(self.me["policies"])
        self.client.post(
            "/api/v1/payments",
            json={
                "deal_id": deal_id,
                "policy_id": policy_id,
                "payment_type": "commission_income",
                "amount": 1500.5,
                "currency": "RUB",
            },
            headers=self.headers,
            name="POST /api/v1/payments",
        )


class SupervisorUser(FastHttpUser):
    """A head of sales watching the whole tenant."""

    weight = 2
    wait_time = _think()

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {random.choice(PLAN['supervisors'])}"}

    @task(5)
    def lead_table(self):
        self.client.get("/api/v2/leads/table?limit=50", headers=self.headers, name="GET /api/v2/leads/table")

    @task(2)
    def leads(self):
        self.client.get("/api/leads?limit=50", headers=self.headers, name="GET /api/leads")

    @task(3)
    def deals(self):
        self.client.get("/api/v1/deals?limit=25", headers=self.headers, name="GET /api/v1/deals")

    @task(2)
    def payments(self):
        self.client.get("/api/v1/payments?limit=25", headers=self.headers, name="GET /api/v1/payments")


class WebhookUser(FastHttpUser):
    """Site forms and chat-bot hand-offs bringing new leads (each from a new phone)."""

    weight = 1
    wait_time = _think()

    @task(3)
    def site(self):
        phone = f"+7925{_PID:03d}{next(_phones):04d}"
        self.client.post(
            f"/api/webhooks/site/{PLAN['webhook_key']}",
            json={"name": "С сайта", "phone": phone, "message": "Перезвоните"},
            name="POST /api/webhooks/site/{key}",
        )

    @task(1)
    def chatflow(self):
        phone = f"+7926{_PID:03d}{next(_phones):04d}"
        self.client.post(
            f"/api/webhooks/chatflow/{PLAN['webhook_key']}",
            json={"chat_id": f"load-{phone}", "contact": {"phone": phone}, "message": "Здравствуйте"},
            name="POST /api/webhooks/chatflow/{key}",
        )
