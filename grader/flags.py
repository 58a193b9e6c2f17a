"""Why a grade needs a person's look, as typed records: a stable `code` that tests and scripts match on, and a
`message` for the instructor. Flags cross from a grading task to the instructor's process as JSON, and some text in
them came from the sandbox: `from_json` accepts only the expected shape and keeps anything else as a flag of its own.
"""

import re
from dataclasses import asdict, dataclass

CODE = re.compile(r"[a-z][a-z0-9-]{0,39}")
MAX_MESSAGE = 300  # learner code can put text in a message (an exception, a name): never a flood


@dataclass(frozen=True)
class Flag:
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, value) -> "Flag":
        if (isinstance(value, dict) and isinstance(value.get("code"), str) and CODE.fullmatch(value["code"])
                and isinstance(value.get("message"), str)):
            return cls(value["code"], value["message"][:MAX_MESSAGE])
        return cls("malformed-flag", f"a flag that is not a (code, message) record: {str(value)[:120]!r}")
