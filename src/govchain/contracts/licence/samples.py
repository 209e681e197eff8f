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
            "name": {"type": "string", "title": "名称"},
            "credit_code": {"type": "string", "title": "统一社会信用代码"},
            "legal_rep": {"type": "string", "title": "法定代表人"},
            "scope": {"type": "string", "title": "经营范围"},
        },
        "required": ["name", "credit_code"],
    },
    "personal": ["legal_rep"],
    "holder": "organisation",
    "validity_days": 3650,
}
