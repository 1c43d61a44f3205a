"""Message templates in Chinese (default) and English.

Each template names the parameters it needs. Callers pass strings already formatted:
amounts as ``money.yuan_str(fen)`` (``"1234.56"``), dates as ISO ``YYYY-MM-DD``, a card
as its last four digits. An SMS gets the platform signature (短信签名, required by the
carriers) in front: ``【p2plend】`` / ``[p2plend]``.

Nothing here promises principal or interest on the platform's behalf (R3).
"""

import operator
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from string import Formatter

from sqlalchemy import ColumnElement, String, case, literal

from p2plend.errors import DomainError, InvalidInput

LOCALES = ("zh", "en")
SMS_SIGNATURE = {"zh": "【p2plend】", "en": "[p2plend] "}


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    params: tuple[str, ...]
    title: dict[str, str]  # locale → title (message center, e-mail subject)
    body: dict[str, str]  # locale → text with {param} placeholders


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    body: str


class UnknownTemplate(DomainError):
    """A bug: the caller named a template that does not exist."""

    code = "unknown_notification_template"
    status = 500


class TemplateParamsMissing(DomainError):
    """A bug: the caller left out a parameter the template needs."""

    code = "notification_params_missing"
    status = 500


class UnsupportedLocale(InvalidInput):
    code = "unsupported_locale"


def _t(key: str, params: tuple[str, ...], zh: tuple[str, str], en: tuple[str, str]) -> Template:
    return Template(key=key, params=params, title={"zh": zh[0], "en": en[0]}, body={"zh": zh[1], "en": en[1]})


_CODE_PARAMS = ("code", "minutes")

TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        _t(
            "registration_code",
            _CODE_PARAMS,
            ("注册验证码", "您的注册验证码是{code}，{minutes}分钟内有效。请勿泄露给他人。"),
            (
                "Registration code",
                "Your registration code is {code}, valid for {minutes} minutes. Never share it with anyone.",
            ),
        ),
        _t(
            "password_reset_code",
            _CODE_PARAMS,
            (
                "重置密码验证码",
                "您正在重置登录密码，验证码是{code}，{minutes}分钟内有效。如非本人操作，请忽略。",
            ),
            (
                "Password reset code",
                "Your password reset code is {code}, valid for {minutes} minutes. "
                "If you did not ask for it, ignore this message.",
            ),
        ),
        _t(
            "security_code",
            _CODE_PARAMS,
            (
                "安全验证码",
                "您的安全验证码是{code}，{minutes}分钟内有效。请勿泄露给他人，客服不会索要验证码。",
            ),
            (
                "Security code",
                "Your security code is {code}, valid for {minutes} minutes. "
                "Never share it: our staff will never ask for it.",
            ),
        ),
        _t(
            "deposit_succeeded",
            ("amount",),
            ("充值成功", "您的充值{amount}元已到账，可在存管账户中查看。"),
            ("Deposit received", "Your deposit of CNY {amount} has arrived in your custody account."),
        ),
        _t(
            "deposit_failed",
            ("amount",),
            ("充值失败", "您的充值{amount}元未成功，资金未扣划。如有疑问请联系客服。"),
            (
                "Deposit failed",
                "Your deposit of CNY {amount} did not go through; no money was taken. "
                "Contact us with any question.",
            ),
        ),
        _t(
            "withdrawal_submitted",
            ("amount", "fee"),
            ("提现申请已受理", "您的提现{amount}元已受理，手续费{fee}元，资金已冻结，银行处理后到账。"),
            (
                "Withdrawal accepted",
                "Your withdrawal of CNY {amount} (fee CNY {fee}) was accepted; "
                "the money is frozen until the bank pays it out.",
            ),
        ),
        _t(
            "withdrawal_succeeded",
            ("amount", "card_tail"),
            ("提现成功", "您的提现{amount}元已转入尾号{card_tail}的银行卡，请注意查收。"),
            (
                "Withdrawal paid",
                "Your withdrawal of CNY {amount} was paid to your card ending {card_tail}.",
            ),
        ),
        _t(
            "withdrawal_failed",
            ("amount",),
            ("提现失败", "您的提现{amount}元未成功，冻结资金及手续费已退回可用余额。"),
            (
                "Withdrawal failed",
                "Your withdrawal of CNY {amount} failed; the frozen amount and the fee are back "
                "in your available balance.",
            ),
        ),
        _t(
            "risk_assessment_completed",
            ("tier", "valid_until"),
            ("风险评估完成", "您的风险承受能力评估结果为{tier}，有效期至{valid_until}。"),
            (
                "Risk assessment completed",
                "Your risk tolerance assessment result is {tier}, valid until {valid_until}.",
            ),
        ),
        _t(
            "risk_assessment_expiring",
            ("valid_until",),
            ("风险评估即将到期", "您的风险承受能力评估将于{valid_until}到期，到期后需重新评估方可出借。"),
            (
                "Risk assessment expiring",
                "Your risk tolerance assessment expires on {valid_until}; after that you must "
                "take it again before lending.",
            ),
        ),
        _t(
            "password_changed",
            (),
            ("登录密码已修改", "您的登录密码已修改。如非本人操作，请立即联系客服冻结账户。"),
            (
                "Password changed",
                "Your sign-in password was changed. "
                "If this was not you, contact us at once to lock the account.",
            ),
        ),
        _t(
            "account_locked",
            ("minutes",),
            ("账户已临时锁定", "因多次密码错误，您的账户已锁定{minutes}分钟。如非本人操作，请及时修改密码。"),
            (
                "Account locked",
                "After repeated wrong passwords your account is locked for {minutes} minutes. "
                "If this was not you, change your password.",
            ),
        ),
        _t(
            "application_info_requested",
            ("application_id", "message"),
            (
                "借款申请需补充材料",
                "您的借款申请（编号{application_id}）需要补充信息：{message} 请登录后补充并重新提交。",
            ),
            (
                "More information needed",
                "Your loan application no. {application_id} needs more information: {message} "
                "Sign in to add it and resubmit.",
            ),
        ),
        _t(
            "application_approved",
            ("application_id", "amount"),
            (
                "借款申请已通过审核",
                "您的借款申请（编号{application_id}，{amount}元）已通过审核并进入发布流程，筹标结果以平台通知为准。",
            ),
            (
                "Loan application approved",
                "Your loan application no. {application_id} (CNY {amount}) was approved and is being listed; "
                "whether it is funded depends on lenders.",
            ),
        ),
        _t(
            "application_rejected",
            ("application_id",),
            ("借款申请未通过", "很抱歉，您的借款申请（编号{application_id}）未通过审核。"),
            (
                "Loan application declined",
                "We are sorry: your loan application no. {application_id} was declined.",
            ),
        ),
        _t(
            "installment_due_soon",
            ("loan", "number", "due_date", "amount"),
            (
                "还款提醒",
                "您的借款“{loan}”第{number}期将于{due_date}到期，应还{amount}元。"
                "请在到期日前向存管账户充值足额资金，到期日将自动扣款。",
            ),
            (
                "Repayment reminder",
                'Installment {number} of your loan "{loan}" is due on {due_date}: CNY {amount}. '
                "Keep enough in your custody account; it is debited automatically on the due date.",
            ),
        ),
        _t(
            "installment_due_today",
            ("loan", "number", "amount"),
            (
                "今日还款未足额",
                "您的借款“{loan}”第{number}期今日到期，尚欠{amount}元未能自动扣款。"
                "请尽快充值还款；宽限期后将按合同计收罚息。",
            ),
            (
                "Installment due today not fully paid",
                'Installment {number} of your loan "{loan}" was due today and CNY {amount} could not be '
                "debited. Please repay soon: after the grace period, penalty interest runs "
                "as the contract says.",
            ),
        ),
        _t(
            "installment_overdue",
            ("loan", "days", "amount"),
            (
                "逾期通知",
                "您的借款“{loan}”已逾期{days}天，当前应还{amount}元（含罚息）。"
                "逾期将影响您的信用记录，请尽快还款。",
            ),
            (
                "Overdue notice",
                'Your loan "{loan}" is {days} days overdue; CNY {amount} is owed now, '
                "penalty interest included. "
                "Late payment affects your credit record: please repay soon.",
            ),
        ),
        _t(
            "repayment_received",
            ("loan", "amount", "principal", "interest", "penalty"),
            (
                "回款到账",
                "您出借的“{loan}”今日回款{amount}元已到账（本金{principal}元，利息{interest}元，"
                "罚息{penalty}元，已扣除利息管理费）。",
            ),
            (
                "Repayment received",
                'Loan "{loan}" paid you CNY {amount} today (principal {principal}, interest {interest}, '
                "penalty interest {penalty}; net of the interest management fee).",
            ),
        ),
        _t(
            "collection_reminder",
            ("loan", "days", "amount"),
            (
                "还款提醒（逾期）",
                "您的借款“{loan}”已逾期{days}天，当前应还{amount}元。请尽快登录平台还款；"
                "如还款有困难，请联系平台客服协商还款安排。",
            ),
            (
                "Overdue repayment reminder",
                'Your loan "{loan}" is {days} days overdue; CNY {amount} is owed now. Please sign in and '
                "repay soon; if repaying is difficult, contact our customer service to agree a plan.",
            ),
        ),
        _t(
            "loan_written_off",
            ("loan", "date"),
            (
                "出借项目已核销",
                "您出借的“{loan}”已于{date}按坏账核销（仅为报告状态）。您的债权不变：借款人此后的"
                "还款仍将按持有比例分配给您。",
            ),
            (
                "Loan written off",
                'Loan "{loan}" you lent to was written off as a loss on {date} (a reporting status only). '
                "Your claim is unchanged: anything the borrower repays later is still paid to you "
                "in proportion to your holding.",
            ),
        ),
        _t(
            "compensation_paid",
            ("loan", "amount", "shortfall"),
            (
                "代偿已执行",
                "根据担保合同，借款“{loan}”的代偿已执行：已向出借人支付{amount}元，"
                "因余额不足未能支付{shortfall}元。相应债权已转让予贵司。",
            ),
            (
                "Compensation paid",
                'Under the guarantee agreement, compensation on loan "{loan}" was paid: CNY {amount} to the '
                "lenders; CNY {shortfall} could not be paid for lack of balance. The claim for what was paid "
                "has passed to you.",
            ),
        ),
        _t(
            "compensation_borrower_notice",
            ("loan", "amount"),
            (
                "担保代偿通知",
                "您的借款“{loan}”逾期，担保机构已代为向出借人支付{amount}元。"
                "您仍须偿还全部欠款，相应款项将归还担保机构。",
            ),
            (
                "Guarantor compensation notice",
                'Your loan "{loan}" is overdue and the guarantor paid CNY {amount} to the lenders on your '
                "behalf. You still owe all of it; what you repay goes to the guarantor.",
            ),
        ),
    )
}


def normalise_locale(locale: str) -> str:
    """``zh``, ``zh-CN``, ``zh_Hans`` → ``zh``; ``en``, ``en-US`` → ``en``; anything else is refused."""
    language = locale.strip().replace("_", "-").split("-")[0].lower()
    if language not in LOCALES:
        raise UnsupportedLocale(f"Locale {locale!r} is not supported.", details={"supported": list(LOCALES)})
    return language


def render(key: str, locale: str, params: dict[str, str]) -> Rendered:
    """The title and body of template ``key`` in ``locale``; extra parameters are ignored."""
    template = _template(key, params)
    language = normalise_locale(locale)
    values = {name: str(params[name]) for name in template.params}
    return Rendered(title=template.title[language], body=template.body[language].format_map(values))


def render_sql(
    key: str, locale: ColumnElement[str], params: Mapping[str, ColumnElement[str]]
) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """``render`` as SQL: the title and body of template ``key`` for each row of a query,
    in the language of its ``locale`` column, its parameters taken from ``params`` (text
    columns) — the same text, written by the database (``notify_selected``)."""
    template = _template(key, params)

    def in_each_language(texts: dict[str, str]) -> ColumnElement[str]:
        by_language = {language: _format_sql(text, params) for language, text in texts.items()}
        default = by_language.pop("zh")
        return case(*((locale == language, text) for language, text in by_language.items()), else_=default)

    return in_each_language(template.title), in_each_language(template.body)


def _format_sql(text: str, params: Mapping[str, ColumnElement[str]]) -> ColumnElement[str]:
    """``text.format_map(params)`` as a concatenation (templates use bare ``{name}`` fields)."""
    pieces: list[ColumnElement[str]] = []
    for literal_text, field, spec, conversion in Formatter().parse(text):
        if literal_text:
            pieces.append(literal(literal_text, String))
        if field is not None:
            if spec or conversion:
                raise ValueError(f"template field {field!r} has a format the database cannot apply")
            pieces.append(params[field])
    return reduce(operator.add, pieces)


def _template(key: str, params: Mapping[str, object]) -> Template:
    """Template ``key``, refused when unknown or when ``params`` lack one of its parameters."""
    template = TEMPLATES.get(key)
    if template is None:
        raise UnknownTemplate(f"No notification template {key!r}.", details={"template": key})
    missing = [name for name in template.params if name not in params]
    if missing:
        raise TemplateParamsMissing(
            f"Template {key!r} needs {', '.join(missing)}.", details={"template": key, "missing": missing}
        )
    return template
