"""/readyz: the readiness probe answers from the database, without a login and without writing."""

from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from promotions.web.views import health


class _Unreachable:
    """A database connection whose server does not answer."""

    def cursor(self):
        raise OperationalError('connection to server at "10.9.8.7", port 5432 failed: Connection refused')


def test_it_is_ready_when_the_database_answers(client, db):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    assert response.json() == {"ready": True}


def test_it_asks_the_database_one_cheap_question_and_writes_nothing(client, db):
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("readyz"))
    assert [query["sql"] for query in queries.captured_queries] == ["SELECT 1"]


def test_it_is_not_ready_when_the_database_does_not_answer(client, db, monkeypatch):
    monkeypatch.setattr(health, "connection", _Unreachable())
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    assert response.json() == {"ready": False, "reason": "database unavailable (OperationalError)"}


def test_it_never_tells_the_caller_where_the_database_is(client, db, monkeypatch):
    monkeypatch.setattr(health, "connection", _Unreachable())
    assert b"10.9.8.7" not in client.get(reverse("readyz")).content


def test_it_answers_only_get(client, db):
    assert client.post(reverse("readyz")).status_code == 405


def test_the_liveness_check_stays_plain_text(client, db):
    response = client.get(reverse("healthz"))
    assert (response.status_code, response["Content-Type"], response.content) == (200, "text/plain", b"ok\n")


def test_probes_on_the_pods_own_address_are_answered_before_host_checks_and_redirects(client, db, settings):
    settings.ALLOWED_HOSTS = ["portal.acme.example"]
    settings.SECURE_SSL_REDIRECT = True
    probe = {"HTTP_HOST": "10.42.0.17:8000"}  # what a kubelet sends: the pod's IP, plain HTTP
    assert client.get("/healthz", **probe).status_code == 200
    assert client.get("/readyz", **probe).json() == {"ready": True}
    assert client.get("/", **probe).status_code == 400  # everything else still checks the host
    assert client.post("/healthz", **probe).status_code == 400  # and only GET/HEAD probes skip it
