"""A sample licence type: for the docs' walk-through, the tests and the benchmark."""

from __future__ import annotations

from typing import Any

BUSINESS_LICENCE: dict[str, Any] = {
    "name_zh": "营业执照",
    "name_en": "Business licence",
    "issuers": ["org2"],
    "schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "credit_code": {"type": "string"},
            "legal_rep": {"type": "string"},
            "scope": {"type": "string"},
        },
        "required": ["name", "credit_code"],
    },
    "personal": ["legal_rep"],
    "holder": "organisation",
    "validity_days": 3650,
}
