"""Real peers for the tests: Kafka, SMTP servers (aiosmtpd) and Prism serving Twilio's contract."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from heard.devstack.kafka import free_port, stop_pid

REPO = Path(__file__).resolve().parents[1]
MESSAGES_PATH = "/2010-04-01/Accounts/{AccountSid}/Messages.json"


VENDORED_TWILIO_SPEC = REPO / "tests" / "contracts" / "twilio" / "twilio_messages_v2010.json"


def twilio_spec_path() -> Path:
    """The vendored contract (see tests/contracts/twilio/SOURCE.md), or HEARD_TWILIO_SPEC."""
    configured = os.environ.get("HEARD_TWILIO_SPEC")
    return Path(configured) if configured else VENDORED_TWILIO_SPEC


def _referenced_schemas(node: Any, schemas: dict[str, Any], found: set[str]) -> set[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                name = value.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    _referenced_schemas(schemas[name], schemas, found)
            else:
                _referenced_schemas(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            _referenced_schemas(value, schemas, found)
    return found


def trim_twilio_spec(full_spec: Path, target: Path = VENDORED_TWILIO_SPEC) -> Path:
    """Keep the Messages paths of Twilio's full 2010 spec and only the schemas they reference."""
    spec = json.loads(full_spec.read_text())
    spec["paths"] = {path: item for path, item in spec["paths"].items() if "/Messages" in path}
    schemas = spec["components"]["schemas"]
    kept = _referenced_schemas(spec["paths"], schemas, set())
    spec["components"]["schemas"] = {name: schemas[name] for name in sorted(kept)}
    used_tags = {
        tag
        for item in spec["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for tag in operation.get("tags", [])
    }
    spec["tags"] = [tag for tag in spec.get("tags", []) if tag.get("name") in used_tags]
    target.write_text(json.dumps(spec, indent=1) + "\n")
    return target


VENDORED_INTERCOM_SPEC = REPO / "tests" / "contracts" / "intercom" / "intercom_conversation_reply_v2.14.json"
INTERCOM_REPLY_PATH = "/conversations/{conversation_id}/reply"


def _trim_to_path(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """The description with one path kept, the component schemas it references (transitively),
    its tags and the security schemes; nothing else changed."""
    spec["paths"] = {path: spec["paths"][path]}
    schemas = spec["components"]["schemas"]
    kept = _referenced_schemas(spec["paths"], schemas, set())
    spec["components"] = {
        "schemas": {name: schemas[name] for name in sorted(kept)},
        "securitySchemes": spec["components"]["securitySchemes"],
    }
    used = {
        tag
        for operation in spec["paths"][path].values()
        if isinstance(operation, dict)
        for tag in operation.get("tags", [])
    }
    spec["tags"] = [tag for tag in spec.get("tags", []) if tag.get("name") in used]
    return spec


def trim_intercom_spec(full_spec: Path, target: Path = VENDORED_INTERCOM_SPEC) -> Path:
    """Keep the conversation-reply path of Intercom's 2.14 description (the tests' Prism starts
    fast; nothing else changes)."""
    import yaml

    spec = _trim_to_path(yaml.safe_load(full_spec.read_text()), INTERCOM_REPLY_PATH)
    target.write_text(json.dumps(spec, indent=1, default=str) + "\n")
    return target


VENDORED_JIRA_SPEC = REPO / "tests" / "contracts" / "jira" / "jira_issue_comment_v3.json"
JIRA_COMMENT_PATH = "/rest/api/3/issue/{issueIdOrKey}/comment"


def trim_jira_spec(full_spec: Path, target: Path = VENDORED_JIRA_SPEC) -> Path:
    """Keep the issue-comment path of Atlassian's Jira Cloud platform description. Its response
    examples are JSON text inside a string: parsed into the JSON they hold, or Prism answers
    the string, which the description's own schema refuses (a 500 for every request)."""
    spec = _trim_to_path(json.loads(full_spec.read_text()), JIRA_COMMENT_PATH)
    for operation in spec["paths"][JIRA_COMMENT_PATH].values():
        for response in operation.get("responses", {}).values():
            for content in response.get("content", {}).values():
                example = content.get("example")
                if isinstance(example, str) and example.startswith(("{", "[")):
                    content["example"] = json.loads(example)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(spec, indent=1) + "\n")
    return target


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "value": {
            "code": code,
            "message": message,
            "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
        }
    }


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string"},
        "status": {"type": "integer"},
    },
}


def derive_messages_spec(source: Path, target: Path) -> Path:
    """Keep only the Messages paths (faster Prism) and add Twilio-shaped 400/429/503 answers."""
    spec = json.loads(source.read_text())
    spec["paths"] = {path: item for path, item in spec["paths"].items() if "/Messages" in path}
    responses = spec["paths"][MESSAGES_PATH]["post"]["responses"]
    responses["400"] = {
        "description": "Twilio error",
        "content": {
            "application/json": {
                "schema": ERROR_SCHEMA,
                "examples": {
                    "optedOut": _twilio_error(21610, "Attempt to send to unsubscribed recipient", 400),
                    "invalidTo": _twilio_error(21211, "Invalid 'To' Phone Number", 400),
                },
            }
        },
    }
    # Prism answers an invalid request with the spec's 422 if there is one, else its 400,
    # which would now be a scripted Twilio error; keep validation failures distinct.
    responses["422"] = {
        "description": "Request failed contract validation",
        "content": {
            "application/json": {
                "schema": ERROR_SCHEMA,
                "examples": {"invalid": _twilio_error(21000, "Request does not match the contract", 422)},
            }
        },
    }
    responses["429"] = {
        "description": "Too many requests",
        "headers": {"Retry-After": {"schema": {"type": "integer", "example": 1}}},
        "content": {
            "application/json": {
                "schema": ERROR_SCHEMA,
                "examples": {"tooMany": _twilio_error(20429, "Too Many Requests", 429)},
            }
        },
    }
    responses["503"] = {
        "description": "Unavailable",
        "content": {
            "application/json": {
                "schema": ERROR_SCHEMA,
                "examples": {"unavailable": _twilio_error(20503, "Service Unavailable", 503)},
            }
        },
    }
    target.write_text(json.dumps(spec))
    return target


def wait_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)  # polls Prism's port; bounded by the deadline
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


class Prism:
    def __init__(self, workdir: Path, spec: Path | None = None) -> None:
        self.workdir = workdir
        # None: Twilio's Messages contract (derived at start); else this vendored description.
        self.spec = spec
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = REPO / "devstack" / "prism" / "node_modules" / ".bin" / "prism"
        if not binary.exists():
            raise RuntimeError(f"{binary} missing: run `make prism` (npm ci in devstack/prism)")
        if self.spec is not None:
            spec = self.spec
        else:
            source = twilio_spec_path()
            if not source.exists():
                raise RuntimeError(f"Twilio OpenAPI spec not found at {source} (HEARD_TWILIO_SPEC)")
            spec = derive_messages_spec(source, self.workdir / "twilio_messages.json")
        log = (self.workdir / "prism.log").open("wb")
        self.process = subprocess.Popen(
            [str(binary), "mock", "-h", "127.0.0.1", "-p", str(self.port), "--errors", str(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_port(self.port, 60, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process.pid, 10, self.process)
            self.process = None


if __name__ == "__main__":
    import sys

    trims = {"trim": trim_twilio_spec, "trim-intercom": trim_intercom_spec, "trim-jira": trim_jira_spec}
    if len(sys.argv) != 3 or sys.argv[1] not in trims:
        raise SystemExit(
            "usage: python -m tests.peers trim FULL_TWILIO_API_V2010_JSON\n"
            "       python -m tests.peers trim-intercom FULL_INTERCOM_2.14_YAML\n"
            "       python -m tests.peers trim-jira FULL_JIRA_PLATFORM_SWAGGER_V3_JSON"
        )
    trim = trims[sys.argv[1]]
    print(trim(Path(sys.argv[2])))
