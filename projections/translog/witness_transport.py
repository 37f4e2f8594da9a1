"""How the witness client reaches a witness: one HTTP POST per submission (httpx).

`submit_checkpoint` takes the call as a function (``post``) so that its rules hold no I/O; this
is the production one, used by `reliquary witness submit`, `reliquary checkpoint` and the HTTP
service's log follower (all through `api.bootstrap.Services.submit_to_witnesses`). An answer
is read up to `MAX_ANSWER_BYTES` and no further; a network error or a timeout is
`WitnessUnreachable`.
"""

from __future__ import annotations

import threading

from projections.translog.witness_policy import (
    MAX_ANSWER_BYTES,
    PolicyWitness,
    Post,
    PostAnswer,
    WitnessUnreachable,
)

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "MAX_TIMEOUT_SECONDS", "http_post"]

# How long one witness may take to answer; a witness that takes longer is "unreachable".
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0


def http_post(timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Post:
    """A ``post`` that sends the body to the witness's ``add-checkpoint`` URL over HTTP(S)."""
    import httpx

    # One client for every submission this ``post`` makes (in parallel threads: httpx's client
    # is safe to share), built at the first: building one loads the CA bundle into a new TLS
    # context, about 20 ms, which was most of a witness round over loopback.
    clients: list[httpx.Client] = []
    building = threading.Lock()

    def client_for_posts() -> httpx.Client:
        with building:
            if not clients:
                clients.append(httpx.Client(timeout=timeout))
            return clients[0]

    def post(witness: PolicyWitness, body: bytes) -> PostAnswer:
        client = client_for_posts()
        try:
            with (
                client.stream(
                    "POST",
                    witness.add_checkpoint_url,
                    content=body,
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                ) as response,
            ):
                received = b""
                for chunk in response.iter_bytes():
                    received += chunk
                    if len(received) > MAX_ANSWER_BYTES:  # enough to refuse it; read no more
                        break
                return PostAnswer(response.status_code, received.decode("utf-8", "replace"))
        except httpx.HTTPError as error:
            raise WitnessUnreachable(f"{type(error).__name__}: {error}") from None

    return post
