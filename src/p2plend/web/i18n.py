"""The pages' words in Chinese (default) and English: one catalogue, keys → (zh, en).

Templates call ``t("key", name=value)``; the locale comes from ``?lang=``, then the
``lang`` cookie, then Chinese. Domain errors arrive as stable codes (``insufficient_funds``)
and are shown through ``error.<code>``: people read a sentence in their language, never
the English developer message or a stack trace. A code without a translation falls back
to a generic sentence naming the code (the tests check every known code has one).
"""

from collections.abc import Callable
from typing import Literal

Locale = Literal["zh", "en"]
LOCALES: tuple[Locale, ...] = ("zh", "en")
DEFAULT_LOCALE: Locale = "zh"

Translator = Callable[..., str]

MESSAGES: dict[str, tuple[str, str]] = {
    # --- the frame ------------------------------------------------------------------------
    "brand": ("p2plend 网贷信息中介", "p2plend lending intermediary"),
    "brand.short": ("p2plend", "p2plend"),
    "nav.home": ("首页", "Home"),
    "nav.account": ("账户总览", "Account"),
    "nav.deposit": ("充值", "Deposit"),
    "nav.withdraw": ("提现", "Withdraw"),
    "nav.history": ("资金流水", "Transactions"),
    "nav.messages": ("消息中心", "Messages"),
    "nav.security": ("安全设置", "Security"),
    "nav.login": ("登录", "Sign in"),
    "nav.register": ("注册", "Register"),
    "nav.logout": ("退出", "Sign out"),
    "nav.staff": ("员工工作台", "Staff home"),
    "nav.demo_sms": ("模拟短信", "Simulated SMS"),
    "nav.menu": ("菜单", "Menu"),
    "lang.switch": ("English", "中文"),
    "lang.switch_label": ("切换语言", "Switch language"),
    "footer.risk": ("市场有风险，出借需谨慎", "Lending carries risk; lend with care"),
    "footer.intermediary": (
        "本平台为网络借贷信息中介机构，仅提供信息撮合服务；出借人与借款人直接借贷，"
        "平台不设资金池、不自融、不提供担保，不承诺保本保息。",
        "This platform is an online lending information intermediary: lenders and borrowers "
        "lend to each other directly. The platform keeps no fund pool, does not borrow for "
        "itself, gives no guarantee and never promises principal or interest.",
    ),
    "footer.custody": (
        "用户资金由存管银行存管于用户本人名下的存管子账户。",
        "Users' money is held by the custodian bank in each user's own sub-account.",
    ),
    "demo.banner": (
        "演示环境：银行与短信均为模拟，请勿输入真实个人信息。",
        "Demo environment: the bank and the SMS gateway are simulated. Do not enter real personal data.",
    ),
    "common.submit": ("提交", "Submit"),
    "common.back": ("返回", "Back"),
    "common.yes": ("是", "Yes"),
    "common.no": ("否", "No"),
    "common.none": ("暂无", "None yet"),
    "common.status": ("状态", "Status"),
    "common.amount": ("金额（元）", "Amount (yuan)"),
    "common.time": ("时间", "Time"),
    "common.date": ("日期", "Date"),
    "common.refresh": ("刷新", "Refresh"),
    "common.more": ("加载更多", "Load more"),
    "common.next": ("下一步", "Next"),
    "common.done": ("已完成", "Done"),
    "common.todo": ("未完成", "To do"),
    "common.go": ("去完成", "Go"),
    "common.cancel": ("取消", "Cancel"),
    "common.loading": ("处理中…", "Working…"),
    "form.fix_errors": ("请根据提示修改后重新提交。", "Please correct the fields marked below."),
    # --- home -----------------------------------------------------------------------------
    "home.title": ("网络借贷信息中介平台", "An online lending information intermediary"),
    "home.lead": (
        "p2plend 为出借人与借款人提供信息撮合、信用评估、信息披露与贷后服务。"
        "借贷关系直接发生在出借人与借款人之间。",
        "p2plend matches lenders with borrowers, assesses credit, discloses information and "
        "services loans. Each loan is made directly between a lender and a borrower.",
    ),
    "home.point.intermediary.title": ("信息中介", "An information intermediary"),
    "home.point.intermediary.body": (
        "平台不归集资金、不设资金池、不以自身名义出借或借款，也不为任何借款提供担保。",
        "The platform pools no money, lends or borrows nothing on its own account and guarantees no loan.",
    ),
    "home.point.custody.title": ("银行存管", "Bank custody"),
    "home.point.custody.body": (
        "您的资金存放在存管银行为您开立的存管子账户中，充值、出借、回款、提现均由存管银行执行。",
        "Your money stays in a sub-account the custodian bank opens in your name; deposits, "
        "lending, repayments and withdrawals are executed by the bank.",
    ),
    "home.point.disclosure.title": ("信息披露", "Disclosure"),
    "home.point.disclosure.body": (
        "每个借款项目在出借前披露借款人信息、项目信息与风险评估，出借人自行判断、自担风险。",
        "Every loan discloses the borrower, the project and its risk assessment before anyone "
        "can lend; lenders decide for themselves and bear the risk.",
    ),
    "home.risk.title": ("风险提示", "Risk warning"),
    "home.risk.body": (
        "市场有风险，出借需谨慎。出借可能因借款人违约而损失本金和利息，"
        "过往表现不代表未来；平台不承诺保本保息。",
        "Lending carries risk. You may lose principal and interest if a borrower defaults; past "
        "performance does not predict the future; the platform promises neither principal nor interest.",
    ),
    "home.steps.title": ("开始使用", "Getting started"),
    "home.steps.body": (
        "注册 → 开启双重认证 → 实名认证并开立存管账户 → 绑定银行卡 → 风险测评 → 充值。",
        "Register → turn on two-factor authentication → verify your real name (opens your "
        "custody account) → bind a bank card → take the risk assessment → deposit.",
    ),
    "home.cta.register": ("立即注册", "Register now"),
    "home.cta.login": ("已有账户？登录", "Have an account? Sign in"),
    "home.cta.account": ("进入账户总览", "Go to my account"),
    # --- register -------------------------------------------------------------------------
    "register.title": ("注册", "Register"),
    "register.phone": ("手机号", "Mobile number"),
    "register.phone_hint": (
        "中国大陆手机号，用于登录和接收验证码",
        "A mainland China mobile number, to sign in and receive codes",
    ),
    "register.send_code": ("获取短信验证码", "Send SMS code"),
    "register.code_sent": (
        "验证码已发送至 {phone}，{minutes} 分钟内有效。",
        "A code was sent to {phone}; it is valid for {minutes} minutes.",
    ),
    "register.code_sent_demo": (
        "演示环境可在「模拟短信」页查看验证码。",
        "In the demo, read it on the Simulated SMS page.",
    ),
    "register.sms_code": ("短信验证码", "SMS code"),
    "register.password": ("登录密码", "Password"),
    "register.password_hint": ("至少 8 位，包含字母和数字", "At least 8 characters with letters and digits"),
    "register.submit": ("注册", "Register"),
    "register.done": ("注册成功，请登录。", "You are registered: please sign in."),
    "register.have_account": ("已有账户？", "Already registered?"),
    # --- login ----------------------------------------------------------------------------
    "login.title": ("登录", "Sign in"),
    "login.phone": ("手机号", "Mobile number"),
    "login.password": ("密码", "Password"),
    "login.totp": ("动态验证码", "Authenticator code"),
    "login.totp_hint": (
        "已开启双重认证：请输入身份验证器中的 6 位数字",
        "Two-factor is on: enter the 6 digits from your authenticator app",
    ),
    "login.submit": ("登录", "Sign in"),
    "login.no_account": ("还没有账户？", "No account yet?"),
    "login.required": ("请先登录。", "Please sign in first."),
    "logout.done": ("您已安全退出。", "You have signed out."),
    # --- account overview ---------------------------------------------------------------------
    "account.title": ("账户总览", "Account overview"),
    "account.available": ("可用余额", "Available"),
    "account.frozen": ("冻结金额", "Frozen"),
    "account.total": ("账户总额", "Total"),
    "account.custody_note": (
        "以上资金存放于存管银行您本人名下的存管子账户。",
        "These funds are held by the custodian bank in your own sub-account.",
    ),
    "account.no_custody": (
        "完成实名认证后将为您开立存管账户。",
        "Your custody account opens once you verify your real name.",
    ),
    "account.identity": ("身份信息", "Identity"),
    "account.phone": ("手机号", "Mobile"),
    "account.name": ("姓名", "Name"),
    "account.id_number": ("身份证号", "ID number"),
    "account.roles": ("角色", "Roles"),
    "account.cards": ("银行卡", "Bank cards"),
    "account.checklist": ("账户设置", "Account set-up"),
    "account.step.totp": ("双重认证", "Two-factor authentication"),
    "account.step.kyc": ("实名认证", "Real-name verification"),
    "account.step.card": ("绑定银行卡", "Bind a bank card"),
    "account.step.risk": ("风险测评", "Risk assessment"),
    "account.recent": ("最近资金流水", "Recent transactions"),
    "account.all_history": ("查看全部", "See all"),
    "account.risk_tier": (
        "风险承受能力：{tier}，有效期至 {until}",
        "Risk tolerance: {tier}, valid until {until}",
    ),
    "account.unread": ("{n} 条未读消息", "{n} unread messages"),
    "role.investor": ("出借人", "Investor"),
    "role.borrower": ("借款人", "Borrower"),
    "role.guarantor": ("担保人", "Guarantor"),
    "role.partner_institution": ("合作机构", "Partner institution"),
    "role.admin": ("管理员", "Administrator"),
    "role.risk_officer": ("风控专员", "Risk officer"),
    "role.collector": ("催收专员", "Collector"),
    "role.customer_service": ("客服", "Customer service"),
    "role.operations": ("运营", "Operations"),
    "role.finance": ("财务", "Finance"),
    "role.compliance": ("合规", "Compliance"),
    # --- history --------------------------------------------------------------------------
    "history.title": ("资金流水", "Transactions"),
    "history.kind": ("类型", "Type"),
    "history.account": ("账户", "Account"),
    "history.amount": ("金额", "Amount"),
    "history.memo": ("说明", "Note"),
    "history.empty": ("暂无资金流水。", "No transactions yet."),
    "history.end": ("没有更多了。", "That is all."),
    "history.account.available": ("可用", "Available"),
    "history.account.frozen": ("冻结", "Frozen"),
    "entry.deposit": ("充值", "Deposit"),
    "entry.withdrawal": ("提现", "Withdrawal"),
    "entry.withdrawal_freeze": ("提现冻结", "Withdrawal (frozen)"),
    "entry.withdrawal_settle": ("提现成功", "Withdrawal paid"),
    "entry.withdrawal_release": ("提现退回", "Withdrawal returned"),
    "entry.withdrawal_fee": ("提现手续费", "Withdrawal fee"),
    "entry.fee": ("手续费", "Fee"),
    # --- 2FA --------------------------------------------------------------------------------
    "totp.title": ("双重认证", "Two-factor authentication"),
    "totp.intro": (
        "开启后，登录和提现都需要输入身份验证器（如 Google Authenticator、微软验证器）生成的动态验证码。",
        "Once on, signing in and withdrawing need a code from an authenticator app "
        "(Google Authenticator, Microsoft Authenticator…).",
    ),
    "totp.enabled": ("双重认证已开启。", "Two-factor authentication is on."),
    "totp.start": ("开始设置", "Set it up"),
    "totp.scan": (
        "请用身份验证器扫描二维码，或手动输入密钥：",
        "Scan the QR code with your authenticator app, or type the key:",
    ),
    "totp.secret": ("密钥", "Key"),
    "totp.code": ("验证器显示的 6 位数字", "The 6 digits your app shows"),
    "totp.confirm": ("确认开启", "Turn on"),
    "totp.retry_hint": (
        "您的验证器已保存密钥，请输入其当前显示的验证码；如需重新生成二维码，请点击「开始设置」。",
        "Your app already holds the key: enter the code it shows now, or start again for a new QR code.",
    ),
    "totp.done": ("双重认证已开启。", "Two-factor authentication is now on."),
    "totp.staff_required": (
        "员工账户须先开启双重认证。",
        "Staff accounts must turn on two-factor authentication first.",
    ),
    # --- real name --------------------------------------------------------------------------
    "kyc.title": ("实名认证", "Real-name verification"),
    "kyc.intro": (
        "根据监管要求，出借和借款须完成实名认证（年满 18 周岁，一人一户）。认证通过后将为您开立存管账户。",
        "The rules require real-name verification (aged 18 or over, one account per person) "
        "before lending or borrowing. Your custody account opens when it succeeds.",
    ),
    "kyc.name": ("真实姓名", "Legal name"),
    "kyc.id_number": ("居民身份证号码", "Resident ID number"),
    "kyc.submit": ("提交认证", "Verify"),
    "kyc.done": ("实名认证成功，存管账户已开立。", "Verified: your custody account is open."),
    "kyc.verified": ("您已完成实名认证：{name}，{id_number}", "You are verified: {name}, {id_number}"),
    # --- cards ------------------------------------------------------------------------------
    "cards.title": ("绑定银行卡", "Bank cards"),
    "cards.intro": (
        "充值与提现只能使用本人名下的银行卡（同卡进出）。",
        "Deposits and withdrawals use only cards in your own name (same card in and out).",
    ),
    "cards.bound": ("已绑定的银行卡", "Bound cards"),
    "cards.none": ("尚未绑定银行卡。", "No card bound yet."),
    "cards.bank_name": ("开户银行", "Bank"),
    "cards.card_number": ("银行卡号", "Card number"),
    "cards.holder_name": ("持卡人姓名", "Card holder"),
    "cards.submit": ("绑定", "Bind"),
    "cards.done": ("银行卡绑定成功。", "The card is bound."),
    "cards.kyc_first": ("绑卡前请先完成实名认证。", "Verify your real name before binding a card."),
    # --- risk assessment ------------------------------------------------------------------------
    "risk.title": ("风险测评", "Risk assessment"),
    "risk.intro": (
        "出借前须完成风险承受能力评估，测评结果有效期 {months} 个月；"
        "您只能出借风险等级不高于您承受能力的项目。",
        "Before lending, take the risk tolerance assessment; it is valid for {months} months. "
        "You may only lend into loans whose risk class fits your tier.",
    ),
    "risk.current": (
        "您的风险承受能力：{tier}（{score} 分），有效期至 {until}。",
        "Your tier: {tier} ({score} points), valid until {until}.",
    ),
    "risk.none": ("您尚未完成风险测评或测评已过期。", "You have no valid assessment yet."),
    "risk.retake": ("重新测评", "Take it again"),
    "risk.submit": ("提交测评", "Submit"),
    "risk.saved": ("测评已完成，结果如下。", "Assessment done: your result is below."),
    "risk.unanswered": ("请回答这一题。", "Please answer this question."),
    # --- deposit ---------------------------------------------------------------------------------
    "deposit.title": ("充值", "Deposit"),
    "deposit.intro": (
        "充值资金从您本人的银行卡转入您在存管银行的存管子账户。",
        "A deposit moves money from your own bank card into your sub-account at the custodian bank.",
    ),
    "deposit.card": ("付款银行卡", "Paying card"),
    "deposit.submit": ("前往银行支付", "Pay at the bank"),
    "deposit.need_setup": (
        "充值前请先完成实名认证并绑定银行卡。",
        "Verify your real name and bind a card before depositing.",
    ),
    "deposit.result.title": ("充值结果", "Deposit result"),
    "deposit.order_no": ("订单号", "Order number"),
    "deposit.status.pending": ("等待支付", "Waiting for payment"),
    "deposit.status.succeeded": ("充值成功", "Deposited"),
    "deposit.status.failed": ("充值失败", "Failed"),
    "deposit.status.expired": ("已过期", "Expired"),
    "deposit.status.amount_mismatch": ("金额不符，待人工核对", "Amount differs: being checked"),
    "deposit.status.unknown": ("处理中", "Processing"),
    "deposit.pay_again": ("继续支付", "Continue to payment"),
    # --- withdraw --------------------------------------------------------------------------------
    "withdraw.title": ("提现", "Withdraw"),
    "withdraw.intro": (
        "提现资金只能转入您本人已绑定的银行卡。每笔提现手续费 {fee}，申请时与提现金额一并冻结，成功后扣除。",
        "Withdrawals go only to a card bound in your name. Each costs a fee of {fee}, frozen "
        "with the amount and taken when the bank pays out.",
    ),
    "withdraw.card": ("收款银行卡", "Receiving card"),
    "withdraw.totp": ("动态验证码", "Authenticator code"),
    "withdraw.fee": ("手续费", "Fee"),
    "withdraw.total": ("合计冻结", "Total frozen"),
    "withdraw.preview": (
        "提现 {amount} + 手续费 {fee} = 冻结 {total}",
        "Withdraw {amount} + fee {fee} = frozen {total}",
    ),
    "withdraw.available": ("可用余额 {amount}", "Available {amount}"),
    "withdraw.submit": ("申请提现", "Request withdrawal"),
    "withdraw.done": (
        "提现申请已提交，{total} 已冻结，银行处理完成后到账。",
        "Requested: {total} is frozen until the bank pays out.",
    ),
    "withdraw.need_totp": (
        "提现前请先开启双重认证。",
        "Turn on two-factor authentication before withdrawing.",
    ),
    "withdraw.need_setup": (
        "提现前请先完成实名认证并绑定银行卡。",
        "Verify your real name and bind a card before withdrawing.",
    ),
    # --- the simulated custodian bank ------------------------------------------------------------
    "simbank.title": ("模拟存管银行", "Simulated custodian bank"),
    "simbank.warning": (
        "这是演示用的模拟银行页面，不会发生真实扣款。",
        "This is the demo's simulated bank: no real money moves.",
    ),
    "simbank.pay_title": ("网银支付", "Online banking payment"),
    "simbank.merchant": ("收款方", "Payee"),
    "simbank.merchant_name": ("p2plend 存管子账户（本人）", "p2plend custody sub-account (your own)"),
    "simbank.confirm": ("确认支付", "Confirm payment"),
    "simbank.already": ("该订单已处理：{status}", "This order is already processed: {status}"),
    "simbank.back": ("返回商户", "Back to the platform"),
    "simbank.intro": (
        "充值时，平台会把您带到这里付款；付款后银行通知平台入账。提现由银行自动处理。",
        "When you deposit, the platform sends you here to pay; the bank then tells the platform. "
        "Withdrawals are processed by the bank automatically.",
    ),
    # --- messages ----------------------------------------------------------------------------------
    "messages.title": ("消息中心", "Messages"),
    "messages.empty": ("暂无消息。", "No messages."),
    "messages.mark_read": ("标为已读", "Mark read"),
    "messages.unread": ("未读", "Unread"),
    # --- simulated SMS -----------------------------------------------------------------------------
    "sms.title": ("模拟短信", "Simulated SMS inbox"),
    "sms.intro": (
        "演示环境不发送真实短信：平台发出的短信显示在这里（仅非生产环境）。",
        "The demo sends no real SMS: the messages the platform sends are listed here (never in production).",
    ),
    "sms.to": ("收件人", "To"),
    "sms.text": ("内容", "Text"),
    "sms.empty": ("暂无短信。", "No SMS yet."),
    # --- staff -------------------------------------------------------------------------------------
    "staff.title": ("员工工作台", "Staff home"),
    "staff.intro": ("员工只能看到脱敏后的个人信息。", "Staff see personal data masked."),
    "staff.users": ("用户列表", "Users"),
    "staff.user_id": ("用户编号", "User ID"),
    "staff.kind": ("类型", "Kind"),
    "staff.created": ("注册时间", "Registered"),
    "staff.kyc": ("实名", "Real name"),
    "staff.api_docs": ("API 文档", "API documentation"),
    "staff.page": ("第 {page} 页，共 {total} 人", "Page {page}, {total} users"),
    "staff.prev": ("上一页", "Previous"),
    "staff.next": ("下一页", "Next"),
    "kind.person": ("个人", "Person"),
    "kind.organisation": ("机构", "Organisation"),
    "staff.back": ("返回员工工作台", "Back to the staff home"),
    # --- staff: reconciliation (对账) ----------------------------------------------------------------
    "staff.reconciliation": ("对账", "Reconciliation"),
    "staff.recon.intro": (
        "将每个存管子账户在存管银行的日终余额与平台账务逐一核对，精确到分。",
        "Compares every custody sub-account's end-of-day balance at the custodian bank with the "
        "platform's books, to the fen.",
    ),
    "staff.recon.day": ("对账日期", "Business date"),
    "staff.recon.day_hint": ("营业日，不晚于 {today}", "A business date, not after {today}"),
    "staff.recon.run": ("开始对账", "Reconcile"),
    "staff.recon.history": ("历史对账记录", "Past runs"),
    "staff.recon.none": ("尚无对账记录。", "No reconciliation has been run yet."),
    "staff.recon.run_at": ("对账时间", "Run at"),
    "staff.recon.run_by": ("操作人编号", "Run by (user ID)"),
    "staff.recon.checked": ("核对子账户数", "Sub-accounts checked"),
    "staff.recon.platform_total": ("平台合计", "Platform total"),
    "staff.recon.bank_total": ("银行合计", "Bank total"),
    "staff.recon.difference_count": ("差异笔数", "Differences"),
    "staff.recon.view": ("查看", "View"),
    "staff.recon.run_title": ("对账结果 #{id}", "Reconciliation #{id}"),
    "staff.recon.balanced": (
        "无差异：平台账务与存管银行对账单一致。",
        "No difference: the platform's books agree with the bank's statement.",
    ),
    "staff.recon.unbalanced": ("发现 {n} 笔差异，请核查。", "{n} difference(s) found: please investigate."),
    "staff.recon.sub_account": ("存管子账户", "Sub-account"),
    "staff.recon.owner": ("所属", "Owner"),
    "staff.recon.owner_unknown": ("平台无记录的子账户", "A sub-account the platform does not know"),
    "staff.recon.platform_amount": ("平台金额", "Platform amount"),
    "staff.recon.bank_amount": ("银行金额", "Bank amount"),
    "staff.recon.difference": ("差额（银行 − 平台）", "Difference (bank − platform)"),
    "staff.recon.bad_date": (
        "请输入有效日期，格式为 YYYY-MM-DD。",
        "Enter a valid date as YYYY-MM-DD.",
    ),
    "staff.recon.future_date": (
        "对账日期不能晚于当前营业日 {today}。",
        "The date cannot be after today's business date, {today}.",
    ),
    "staff.recon.back": ("返回对账", "Back to reconciliation"),
    "owner.user": ("用户", "User"),
    "owner.platform": ("平台", "Platform"),
    # --- staff: custody anomalies (异常回调) ----------------------------------------------------------
    "staff.anomalies": ("异常回调", "Custody anomalies"),
    "staff.anomalies.intro": (
        "存管银行回调中与平台账务不符的情况（金额不符、未知订单、子账户不符、终态冲突），待运营人员核查。",
        "Bank callbacks that do not fit the platform's books (amount mismatches, unknown orders, "
        "sub-account mismatches, contradicting final states), for operations to review.",
    ),
    "staff.anomalies.shown": (
        "显示最近 {n} 条未处理的异常。",
        "Showing up to the newest {n} open anomalies.",
    ),
    "staff.anomalies.none": ("没有未处理的异常回调。", "No open anomalies."),
    "staff.anomalies.id": ("编号", "ID"),
    "staff.anomalies.kind": ("类型", "Kind"),
    "staff.anomalies.order_no": ("订单号", "Order number"),
    "staff.anomalies.event_id": ("回调事件号", "Callback event"),
    "staff.anomalies.details": ("详情", "Details"),
    "staff.anomalies.created": ("记录时间", "Recorded at"),
    "anomaly.amount_mismatch": ("金额不符", "Amount mismatch"),
    "anomaly.unknown_order": ("未知订单", "Unknown order"),
    "anomaly.sub_account_mismatch": ("子账户不符", "Sub-account mismatch"),
    "anomaly.conflicting_final_state": ("终态冲突", "Conflicting final state"),
    # --- staff: audit log (审计日志) -----------------------------------------------------------------
    "staff.audit": ("审计日志", "Audit log"),
    "staff.audit.intro": (
        "只追加、以哈希链防篡改的审计记录，最新的在前。",
        "Append-only, hash-chained audit records, newest first.",
    ),
    "staff.audit.actor_id": ("操作人编号", "Actor (user ID)"),
    "staff.audit.object_type": ("对象类型", "Object type"),
    "staff.audit.object_id": ("对象编号", "Object ID"),
    "staff.audit.filter": ("筛选", "Filter"),
    "staff.audit.clear": ("清除筛选", "Clear filters"),
    "staff.audit.bad_id": ("请输入正整数编号。", "Enter an ID: a whole number from 1."),
    "staff.audit.bad_text": ("不能包含控制字符。", "Control characters are not allowed."),
    "staff.audit.id": ("记录编号", "Record"),
    "staff.audit.actor": ("操作人", "Actor"),
    "staff.audit.action": ("操作", "Action"),
    "staff.audit.object": ("对象", "Object"),
    "staff.audit.details": ("详情", "Details"),
    "staff.audit.system": ("系统", "System"),
    "staff.audit.none": ("没有符合条件的审计记录。", "No audit records match."),
    "staff.audit.first": ("回到最新", "Back to the newest"),
    "staff.audit.verification": ("完整性校验", "Integrity check"),
    "staff.audit.intact": (
        "审计日志完整：所有哈希链连续，且与链头一致。",
        "The audit log is intact: every hash chain is unbroken and matches its head.",
    ),
    "staff.audit.broken": (
        "完整性校验发现 {n} 处问题：",
        "The integrity check found {n} problem(s):",
    ),
    "staff.audit.rule": ("规则", "Rule"),
    "staff.audit.subject": ("位置", "Where"),
    "staff.audit.detail": ("说明", "Detail"),
    # --- error pages -----------------------------------------------------------------------------
    "errorpage.csrf.title": ("请求已过期", "This form has expired"),
    "errorpage.csrf.body": (
        "为保护您的账户，本次提交未被处理。请返回上一页、刷新后重新提交。",
        "To protect your account this submission was not processed. Go back, reload the page and try again.",
    ),
    "errorpage.not_found.title": ("页面不存在", "Page not found"),
    "errorpage.not_found.body": ("您访问的页面不存在。", "There is no such page."),
    "errorpage.forbidden.title": ("无权访问", "Not allowed"),
    "errorpage.forbidden.body": ("您没有访问此页面的权限。", "You may not see this page."),
    "errorpage.bad_request.title": ("请求无效", "Bad request"),
    "errorpage.bad_request.body": (
        "提交的内容无效，请返回重试。",
        "What was sent is not valid; go back and try again.",
    ),
    "errorpage.internal.title": ("系统繁忙", "Something went wrong"),
    "errorpage.internal.body": (
        "系统出现问题，本次操作未做任何更改，请稍后再试。",
        "Something went wrong on our side; nothing was changed. Please try again later.",
    ),
    "errorpage.home": ("返回首页", "Back to the home page"),
    # --- domain error codes → human sentences ------------------------------------------------------
    "error.generic": ("操作未能完成（{code}）。", "This could not be done ({code})."),
    "error.invalid_amount": (
        "请输入正确的金额，例如 100 或 100.50。",
        "Enter an amount such as 100 or 100.50.",
    ),
    "error.insufficient_funds": ("可用余额不足。", "Your available balance is not enough."),
    "error.invalid_credentials": ("手机号或密码错误。", "The mobile number or the password is wrong."),
    "error.account_locked": (
        "登录失败次数过多，账户已暂时锁定，请稍后再试。",
        "Too many failed sign-ins: the account is locked for a while.",
    ),
    "error.account_disabled": (
        "该账户已关闭，请联系客服。",
        "This account is closed; contact customer service.",
    ),
    "error.totp_required": (
        "请输入身份验证器中的动态验证码。",
        "Enter the code from your authenticator app.",
    ),
    "error.totp_invalid": (
        "动态验证码错误或已被使用。",
        "The authenticator code is wrong or was already used.",
    ),
    "error.totp_blocked": ("动态验证码错误次数过多，请稍后再试。", "Too many wrong codes: try again later."),
    "error.totp_not_enrolled": ("请先开启双重认证。", "Turn on two-factor authentication first."),
    "error.totp_already_enabled": ("双重认证已开启。", "Two-factor authentication is already on."),
    "error.totp_enrollment_required": (
        "使用员工功能前请先开启双重认证。",
        "Turn on two-factor authentication before using staff functions.",
    ),
    "error.invalid_phone": ("请输入有效的中国大陆手机号。", "Enter a valid mainland China mobile number."),
    "error.weak_password": (
        "密码至少 8 位，且须同时包含字母和数字。",
        "The password needs at least 8 characters with letters and digits.",
    ),
    "error.phone_taken": (
        "该手机号已注册，请直接登录。",
        "This number is already registered: sign in instead.",
    ),
    "error.sms_resend_too_soon": (
        "验证码刚刚发送，请稍后再获取。",
        "A code was just sent; wait a moment before asking again.",
    ),
    "error.invalid_sms_code": (
        "短信验证码错误，或尚未获取验证码。",
        "The SMS code is wrong, or none was requested.",
    ),
    "error.sms_code_expired": (
        "短信验证码已过期，请重新获取。",
        "The SMS code has expired; request a new one.",
    ),
    "error.sms_code_attempts_exceeded": (
        "验证码错误次数过多，请重新获取。",
        "Too many wrong codes; request a new one.",
    ),
    "error.invalid_name": (
        "请输入正确的姓名（中文姓名或英文字母）。",
        "Enter a valid name (Chinese characters or Latin letters).",
    ),
    "error.invalid_id_number": (
        "身份证号码无效，请检查校验位、出生日期和地区码。",
        "This resident ID number is not valid (check character, birth date or region).",
    ),
    "error.underage": ("未满 18 周岁不能使用本平台。", "You must be 18 or over to use the platform."),
    "error.id_number_taken": ("该身份证号已被其他账户使用。", "This ID number is used by another account."),
    "error.real_name_already_verified": ("您已完成实名认证。", "You are already verified."),
    "error.real_name_required": ("请先完成实名认证。", "Verify your real name first."),
    "error.invalid_card_number": (
        "银行卡号无效：应为 16–19 位数字且校验位正确。",
        "This card number is not valid: 16 to 19 digits with a correct check digit.",
    ),
    "error.invalid_bank_name": ("请输入开户银行名称。", "Enter the name of the bank."),
    "error.card_holder_mismatch": (
        "持卡人须与实名认证的姓名一致。",
        "The card holder must be your verified name.",
    ),
    "error.card_taken": ("该银行卡已绑定在其他账户。", "This card is bound to another account."),
    "error.card_already_bound": ("该银行卡已绑定在您的账户。", "This card is already bound to your account."),
    "error.card_limit_reached": ("最多可绑定 5 张银行卡。", "At most 5 cards can be bound."),
    "error.card_not_found": ("请选择您已绑定的银行卡。", "Choose one of your bound cards."),
    "error.user_not_found": ("用户不存在。", "There is no such user."),
    "error.risk_assessment_required": (
        "出借前请先完成风险测评。",
        "Take the risk assessment before lending.",
    ),
    "error.risk_assessment_expired": (
        "您的风险测评已过期，请重新测评。",
        "Your risk assessment has expired; take it again.",
    ),
    "error.risk_class_not_suitable": (
        "该项目风险等级超出您的风险承受能力。",
        "This loan's risk class is above your tier.",
    ),
    "error.risk_tier_cap_exceeded": ("超出您风险等级的出借限额。", "This is over your tier's lending cap."),
    "error.unsupported_locale": ("不支持该语言。", "This language is not supported."),
    "error.invalid_input": ("输入有误，请检查后重试。", "Something you entered is not valid."),
    "error.invalid_request": ("请求无效。", "The request is not valid."),
    "error.not_found": ("内容不存在。", "Not found."),
    "error.permission_denied": ("您没有权限执行此操作。", "You may not do this."),
    "error.unauthenticated": ("请先登录。", "Please sign in first."),
    "error.conflict": (
        "操作与当前状态冲突，请刷新后重试。",
        "This conflicts with the current state; reload and try again.",
    ),
    "error.idempotency_key_reused": ("重复的请求。", "A repeated request."),
    "error.unknown_role": ("角色不存在。", "There is no such role."),
    "error.role_not_allowed": ("不能授予该角色。", "This role cannot be given."),
    "error.unknown_account": ("账户不存在。", "There is no such account."),
    "error.unbalanced_entry": ("记账失败。", "The bookkeeping entry was refused."),
    "error.unknown_notification_template": ("消息模板不存在。", "Unknown message template."),
    "error.notification_params_missing": ("消息参数缺失。", "Message parameters are missing."),
    "error.custody_account_required": (
        "请先完成实名认证以开立存管账户。",
        "Verify your real name to open your custody account first.",
    ),
    "error.deposit_amount_out_of_range": (
        "单笔充值金额须在 1.00 元至 5,000,000.00 元之间。",
        "A deposit is between 1.00 and 5,000,000.00 yuan.",
    ),
    "error.order_not_found": ("订单不存在。", "There is no such order."),
    "error.bank_order_not_found": ("银行订单不存在。", "The bank has no such order."),
    "error.bank_order_finished": ("该银行订单已处理。", "The bank has already processed this order."),
    "error.invalid_signature": ("签名无效。", "The signature is not valid."),
    "error.malformed_callback": ("回调格式无效。", "The callback is malformed."),
    "error.reconciliation_date_in_future": (
        "不能对今天之后的日期对账。",
        "A day after today cannot be reconciled.",
    ),
    "error.invalid_loan_terms": (
        "借款条件无效，请检查金额、期限、利率与还款方式。",
        "The loan terms are not valid: check the amount, the term, the rate and the repayment method.",
    ),
    "error.csrf_failed": (
        "请求已过期，请刷新页面后重试。",
        "This form expired; reload the page and try again.",
    ),
}


def normalise_locale(value: str | None) -> Locale | None:
    """``zh``/``en`` (regional variants such as ``zh-CN`` accepted), or None."""
    if not value:
        return None
    language = value.strip().replace("_", "-").split("-")[0].lower()
    if language == "zh":
        return "zh"
    if language == "en":
        return "en"
    return None


def translate(locale: Locale, key: str, **params: object) -> str:
    """The message ``key`` in ``locale`` with ``{name}`` placeholders filled; the key itself if unknown."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if locale == "en" else pair[0]
    return text.format(**params) if params else text


def translator(locale: Locale) -> Translator:
    """``t(key, **params)`` bound to one locale, for a template."""

    def t(key: str, **params: object) -> str:
        return translate(locale, key, **params)

    return t


def label_translator(locale: Locale) -> Callable[[str, str], str]:
    """``label(prefix, value)``: the message ``prefix.value`` if there is one, else ``value`` itself.

    For values that grow with the domains (ledger entry kinds, order statuses): a new kind
    shows its code until someone names it, rather than a missing-key placeholder.
    """

    def label(prefix: str, value: str) -> str:
        key = f"{prefix}.{value}"
        return translate(locale, key) if key in MESSAGES else value

    return label


def has_error_message(code: str) -> bool:
    return f"error.{code}" in MESSAGES


def error_message(locale: Locale, code: str) -> str:
    """A domain error code as a sentence people read (never the developer message)."""
    key = f"error.{code}"
    if key in MESSAGES:
        return translate(locale, key)
    return translate(locale, "error.generic", code=code)
