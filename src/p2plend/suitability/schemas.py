"""API shapes of investor suitability. Option points stay hidden: answers describe the investor."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from p2plend.suitability.questionnaire import VERSION
from p2plend.suitability.service import Assessment, Question


class OptionResponse(BaseModel):
    key: str
    text: str


class QuestionResponse(BaseModel):
    key: str
    text: str
    options: list[OptionResponse]


class QuestionnaireResponse(BaseModel):
    version: str
    locale: str
    questions: list[QuestionResponse]

    @classmethod
    def of(cls, locale: str, questions: list[Question]) -> "QuestionnaireResponse":
        return cls(
            version=VERSION,
            locale=locale,
            questions=[
                QuestionResponse(
                    key=q.key,
                    text=q.text,
                    options=[OptionResponse(key=o.key, text=o.text) for o in q.options],
                )
                for q in questions
            ],
        )


class SubmitAssessmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[str, str] = Field(
        max_length=50,
        description="Question key → chosen option key, for every question.",
        examples=[
            {
                "age": "b",
                "annual_income": "c",
                "investable_share": "c",
                "experience": "c",
                "loss_tolerance": "c",
                "horizon": "c",
                "p2p_risk_knowledge": "c",
                "purpose": "b",
                "liquidity_need": "c",
                "loss_reaction": "b",
            }
        ],
    )


class AssessmentResponse(BaseModel):
    tier: Literal["C1", "C2", "C3", "C4", "C5"]
    tier_label: str = Field(description="e.g. 'C3 平衡型' or 'C3 Balanced'.")
    score: int
    questionnaire_version: str
    assessed_at: datetime
    assessed_on: date
    valid_until: date = Field(description="The last business date the assessment counts.")
    valid: bool

    @classmethod
    def of(cls, assessment: Assessment, *, today: date, locale: str) -> "AssessmentResponse":
        return cls(
            tier=assessment.tier.value,
            tier_label=assessment.tier.label(locale),
            score=assessment.score,
            questionnaire_version=assessment.questionnaire_version,
            assessed_at=assessment.assessed_at,
            assessed_on=assessment.assessed_on,
            valid_until=assessment.valid_until,
            valid=assessment.is_valid_on(today),
        )


class MyAssessmentResponse(BaseModel):
    status: Literal["none", "valid", "expired"] = Field(
        description="`none`: never taken; `expired`: must be taken again before lending (R15)."
    )
    assessment: AssessmentResponse | None
