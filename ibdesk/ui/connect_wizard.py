"""Connecting an account: token → IBKR login → server → review → progress.

Every page checks its own input and shows its own errors; network work (token check,
catalogue, provisioning) runs as coroutines on the qasync loop, so the window never
freezes. Closing the wizard mid-provisioning asks: keep setting up in the background
(the default), or stop and delete what was created.

Signals:
    account_connected(object): the Account, once it is running
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from enum import StrEnum
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from ibdesk.domain.errors import AddressUnknown, IbdeskError, LoginRefused
from ibdesk.domain.ibeam import UNWORKABLE_TWO_FA
from ibdesk.domain.models import Environment, TwoFactorHandler
from ibdesk.domain.naming import droplet_name
from ibdesk.services.connect.catalogue import Catalogue, ServerPlan
from ibdesk.services.connect.provisioner import (
    STEP_TITLES,
    ConnectRequest,
    Progress,
    Step,
    validate,
)
from ibdesk.ui import dialogs, status_style
from ibdesk.ui.controller import Controller
from ibdesk.ui.tasks import async_slot, spawn

PAGE_TOKEN, PAGE_LOGIN, PAGE_SERVER, PAGE_REVIEW, PAGE_PROGRESS = range(5)


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(status_style.text_style("error"))
    label.setAccessibleName("Error")
    return label


class TokenPage(QWizardPage):
    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("DigitalOcean token")
        self.setSubTitle("ibdesk creates one server per IBKR login in your DigitalOcean "
                         "account. Create a token with read and write scope under API → "
                         "Tokens, and paste it here. It is kept in the system keyring only.")
        layout = QFormLayout(self)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("dop_v1_…")
        self.token.setAccessibleName("DigitalOcean API token")
        layout.addRow("&Token:", self.token)
        self.result = QLabel()
        self.result.setWordWrap(True)
        layout.addRow(self.result)
        self.error = _error_label()
        layout.addRow(self.error)
        self._accepted = False
        self.token.textChanged.connect(self._on_token_changed)

    def _on_token_changed(self) -> None:
        self._accepted = False
        self.error.clear()
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return bool(self.token.text().strip())

    def validatePage(self) -> bool:  # noqa: N802
        if self._accepted:
            return True
        self._check()
        return False

    @async_slot()
    async def _check(self) -> None:
        await self.check()

    async def check(self) -> bool:
        self.result.setText("Checking the token with DigitalOcean…")
        self.error.clear()
        try:
            account = await self._wizard.controller.set_token(self.token.text())
        except IbdeskError as exc:
            self.result.clear()
            self.error.setText(exc.user_message)
            return False
        self.result.setText(f"✓ {account.email} — up to {account.droplet_limit} droplets.")
        self._accepted = True
        self._wizard.next()
        return True


class LoginPage(QWizardPage):
    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("IBKR login")
        self.setSubTitle("The login this server keeps signed in. The password goes to the "
                         "system keyring and, over SSH, to a file on the server that only "
                         "IBeam can read.")
        layout = QFormLayout(self)
        self.username = QLineEdit()
        self.username.setAccessibleName("IBKR username")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setAccessibleName("IBKR password")
        self.environment = QComboBox()
        for env, text in ((Environment.PAPER, "Paper trading"),
                          (Environment.LIVE, "Live trading"),
                          (Environment.DEMO, "Demo (IBKR's free demo login)")):
            self.environment.addItem(text, env)
        self.environment.setAccessibleName("Environment")
        self.two_fa = QComboBox()
        self.two_fa.addItem("None", None)
        # IBeam's other handlers cannot work as ibdesk runs IBeam (ib.UNWORKABLE_TWO_FA)
        self.two_fa.addItem("Authenticator secret (PYOTP)", TwoFactorHandler.PYOTP)
        self.two_fa.setAccessibleName("2FA handler")
        self.two_fa.setToolTip(
            "IBeam makes the 6-digit codes from the secret IBKR shows when you set up its "
            "mobile authenticator. IBeam's other 2FA handlers are not offered: "
            + "; ".join(f"{h.value} {why}" for h, why in UNWORKABLE_TWO_FA.items()) + ".")
        self.totp = QLineEdit()
        self.totp.setEchoMode(QLineEdit.EchoMode.Password)
        self.totp.setAccessibleName("TOTP secret")
        self.totp.setPlaceholderText("base32 secret from IBKR's authenticator setup")
        self.live_warning = QLabel(
            "⚠ Live: this server will trade with real money. IBKR asks every live login for a "
            "second factor, so choose PYOTP and give the authenticator secret.")
        self.live_warning.setWordWrap(True)
        self.live_warning.setStyleSheet(status_style.text_style("warning"))
        self.error = _error_label()
        layout.addRow("&Username:", self.username)
        layout.addRow("&Password:", self.password)
        layout.addRow("&Environment:", self.environment)
        layout.addRow("&2FA:", self.two_fa)
        layout.addRow("TOTP &secret:", self.totp)
        layout.addRow(self.live_warning)
        layout.addRow(self.error)
        for widget in (self.username, self.password, self.totp):
            widget.textChanged.connect(self._changed)
        self.environment.currentIndexChanged.connect(self._changed)
        self.two_fa.currentIndexChanged.connect(self._changed)
        self._changed()

    def environment_value(self) -> Environment:
        return Environment(self.environment.currentData())  # Qt hands back a plain str

    def handler_value(self) -> TwoFactorHandler | None:
        data = self.two_fa.currentData()
        return TwoFactorHandler(data) if data else None

    def _changed(self) -> None:
        self.live_warning.setVisible(self.environment_value() is Environment.LIVE)
        self.totp.setEnabled(self.handler_value() is TwoFactorHandler.PYOTP)
        self.error.clear()
        self.completeChanged.emit()

    def request(self) -> ConnectRequest:
        return ConnectRequest(
            username=self.username.text().strip(), password=self.password.text(),
            environment=self.environment_value(), two_fa_handler=self.handler_value(),
            totp_secret=self.totp.text().strip() or None)

    def isComplete(self) -> bool:  # noqa: N802
        return bool(self.username.text().strip() and self.password.text())

    def validatePage(self) -> bool:  # noqa: N802
        try:
            validate(self.request())
        except IbdeskError as exc:
            self.error.setText(exc.user_message)
            return False
        return True


class ServerPage(QWizardPage):
    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Server")
        self.setSubTitle("Where the gateway runs. Prices are DigitalOcean's, per month; a "
                         "powered-off server is still billed.")
        layout = QFormLayout(self)
        self.region = QComboBox()
        self.region.setAccessibleName("Region")
        self.size_box = QComboBox()
        self.size_box.setAccessibleName("Size")
        self.image = QLineEdit()
        self.image.setAccessibleName("Image")
        self.image.setPlaceholderText("empty: Ubuntu 24.04 with Docker and IBeam installed")
        self.image.setToolTip("A DigitalOcean image id or slug. What it is, and what ibdesk "
                              "will really use, shows below once DigitalOcean answered.")
        self.image_note = QLabel()
        self.image_note.setWordWrap(True)
        self.image_note.setAccessibleName("Image used")
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(5000)
        self.port.setMaximumWidth(120)
        self.port.setAccessibleName("Local port")
        self.port.setToolTip("Your programs reach this account's gateway at "
                             "https://localhost:PORT on this computer. Each account has its "
                             "own port, so a program set up for it never reaches another.")
        self.status = QLabel("Loading DigitalOcean's regions and prices…")
        self.status.setWordWrap(True)
        self.error = _error_label()
        layout.addRow("&Region:", self.region)
        layout.addRow("Si&ze:", self.size_box)
        layout.addRow("&Image:", self.image)
        layout.addRow("", self.image_note)
        layout.addRow("&Local port:", self.port)
        layout.addRow(self.status)
        layout.addRow(self.error)
        self.region.currentIndexChanged.connect(self._fill_sizes)
        self.size_box.currentIndexChanged.connect(self._on_choice_changed)
        self.image.textChanged.connect(self._on_choice_changed)
        self.port.valueChanged.connect(self._on_choice_changed)
        self._recheck = QTimer(self)  # the plan shown while choosing, not only on Next
        self._recheck.setSingleShot(True)
        self._recheck.setInterval(600)
        self._recheck.timeout.connect(lambda: spawn(self.check()))
        self._port_suggested = False
        self.catalogue: Catalogue | None = None
        self.plan: ServerPlan | None = None
        """What the connect will use, checked with DigitalOcean when Next is pressed."""
        self.preview: tuple[str, list[Any]] | None = None
        """The droplet name it would get, and the accounts already on this username."""

    def initializePage(self) -> None:  # noqa: N802
        settings = self._wizard.controller.rt.settings
        self.image.setText(settings.image_id)
        if self.catalogue is None:
            self._load()
        else:
            self._fill_sizes()

    @async_slot()
    async def _load(self) -> None:
        await self.load()

    async def load(self) -> None:
        try:
            if not self._port_suggested:  # the first port no account has, nothing holds
                self.port.setValue(await self._wizard.controller.suggest_local_port())
                self._port_suggested = True
            self.catalogue = await self._wizard.controller.catalogue()
        except IbdeskError as exc:
            self.status.clear()
            self.error.setText(exc.user_message)
            return
        settings = self._wizard.controller.rt.settings
        self.region.blockSignals(True)
        self.region.clear()
        for region in self.catalogue.regions:
            self.region.addItem(f"{region.name} ({region.slug})", region.slug)
        index = self.region.findData(settings.region)
        self.region.setCurrentIndex(max(0, index))
        self.region.blockSignals(False)
        self._fill_sizes()
        left = self.catalogue.droplets_left
        self.status.setText(f"{left} droplet(s) left under your DigitalOcean limit."
                            if left else "")
        if left:
            self.image_note.setText("Checking the image with DigitalOcean…")
            self._recheck.start()
        if not left:
            self.error.setText("Your DigitalOcean account is at its droplet limit: delete a "
                               "droplet or ask DigitalOcean to raise the limit.")
        self.completeChanged.emit()

    def _fill_sizes(self) -> None:
        if self.catalogue is None:
            return
        settings = self._wizard.controller.rt.settings
        env = self._wizard.login.environment_value()
        wanted = settings.demo_size if env is Environment.DEMO else settings.size
        self.size_box.clear()
        for size in self.catalogue.sizes_in(self.region.currentData() or ""):
            self.size_box.addItem(f"{size.vcpus} vCPU · {size.memory // 1024 or 0.5} GB · "
                              f"{size.disk} GB disk — ${size.price_monthly:g}/month "
                              f"({size.slug})", size)
        index = next((i for i in range(self.size_box.count())
                      if self.size_box.itemData(i).slug == wanted), 0)
        self.size_box.setCurrentIndex(index)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return (self.catalogue is not None and self.size_box.count() > 0
                and self.catalogue.droplets_left > 0)

    def _on_choice_changed(self) -> None:
        self.plan = None
        self.error.clear()
        if self.catalogue is not None:
            self.image_note.setText("Checking the image with DigitalOcean…")
            self._recheck.start()
        else:
            self.image_note.clear()

    def validatePage(self) -> bool:  # noqa: N802
        if self.plan is not None:
            return True
        self._check()
        return False

    @async_slot()
    async def _check(self) -> None:
        if await self.check():
            self._wizard.next()

    async def check(self) -> bool:
        """Ask DigitalOcean whether this region, size and image go together (a too-small
        disk or a withdrawn image is refused here, with what to pick instead)."""
        size = self.size_box.currentData()
        if size is None:
            return False
        self.status.setText("Checking the region, size and image with DigitalOcean…")
        self.error.clear()
        try:
            await self._wizard.controller.check_local_port(self.port.value())
            plan = await self._wizard.controller.plan_server(
                self.region.currentData() or "", size.slug, self.image.text().strip() or None)
        except IbdeskError as exc:
            self.status.clear()
            self.image_note.clear()
            self.error.setText(exc.user_message)
            return False
        self.plan = plan
        self.image_note.setText(
            f"Uses <b>{html.escape(plan.image_label)}</b>"
            + (" — the seed's snapshot, IBeam already on it." if plan.seed else
               " — Docker and IBeam 0.5.12 are installed on its first boot (a few minutes).")
            + "".join(f"<br><span style='{status_style.text_style('warning')}'>⚠ "
                      f"{html.escape(w)}</span>" for w in plan.warnings))
        request = self._wizard.login.request()
        self.preview = await self._wizard.controller.connect_preview(
            request.username, request.environment,
            self.catalogue.droplet_names if self.catalogue else ())
        left = self.catalogue.droplets_left if self.catalogue else 0
        self.status.setText(f"{left} droplet(s) left under your DigitalOcean limit.")
        return True


class ReviewPage(QWizardPage):
    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Review")
        self.setSubTitle("Nothing has been created yet.")
        layout = QVBoxLayout(self)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setAccessibleName("Summary")
        layout.addWidget(self.summary)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.TextFormat.RichText)
        self.warnings.setAccessibleName("Warnings")
        self.warnings.setStyleSheet(status_style.text_style("warning"))
        self.warnings.hide()
        layout.addWidget(self.warnings)
        layout.addStretch(1)
        self.setButtonText(QWizard.WizardButton.NextButton, "&Create server")

    def initializePage(self) -> None:  # noqa: N802
        w = self._wizard
        request = w.login.request()
        size = w.server.size_box.currentData()
        region = w.server.region.currentData()
        plan = w.server.plan
        env = request.environment.value
        name, same_login = w.server.preview or (droplet_name(request.username, env, 1), [])
        port = w.server.port.value()
        image = (f"the seed's IBeam snapshot <b>{html.escape(plan.image_label)}</b>"
                 if plan and plan.seed
                 else f"<b>{html.escape(plan.image_label) if plan else 'the stock image'}</b> "
                 "with Docker and IBeam 0.5.12 installed on its first boot (a few minutes)")
        warnings = list(plan.warnings) if plan else []
        if same_login:
            others = ", ".join(f"{a.id} ({a.environment.value})" for a in same_login)
            warnings.insert(0, f"{request.username} is already connected: {others}. IBKR "
                               "allows one session per username, so two gateways of one "
                               "login log each other out all day. Use a second IBKR user "
                               "for this server, or delete the other account first.")
        self.warnings.setText("".join(f"<p>⚠ {html.escape(w_)}</p>" for w_ in warnings))
        self.warnings.setVisible(bool(warnings))
        self.summary.setText(
            f"<p><b>{html.escape(request.username)}</b> ({env}) gets its own server "
            f"<b>{html.escape(name)}</b> in <b>{region}</b>, size "
            f"<b>{size.slug}</b>, from {image}.</p>"
            f"<p>Cost: <b>${size.price_monthly:g} a month</b> (${size.price_hourly:g} an hour), "
            "billed by DigitalOcean until the server is deleted, even while it is off.</p>"
            "<p>Who can reach it: <b>SSH only, from this computer's public address</b>, with "
            "ibdesk's own key. The IBKR gateway is not open to the internet: your programs "
            "reach it through ibdesk's tunnel at "
            f"<b>https://localhost:{port}</b> — this account's own port.</p>"
            f"<p>2FA: <b>{request.two_fa_handler.value if request.two_fa_handler else 'none'}"
            "</b>. The password stays in your system keyring and, on the server, in a file "
            "only IBeam can read.</p>")


class ProgressPage(QWizardPage):
    def __init__(self, wizard: ConnectWizard) -> None:
        super().__init__()
        self._wizard = wizard
        self.setTitle("Creating the server")
        self.setSubTitle("This takes a few minutes. You can close this window: ibdesk carries "
                         "on the next time it starts.")
        layout = QVBoxLayout(self)
        self.steps = QListWidget()
        self.steps.setAccessibleName("Steps")
        self.steps.setWordWrap(True)
        layout.addWidget(self.steps)
        self.error = _error_label()
        layout.addWidget(self.error)
        # after IBKR refused the password: the field to give it again, here (the error
        # said "enter the password again" with nowhere to enter it)
        self.retry = QWidget()
        retry = QHBoxLayout(self.retry)
        retry.setContentsMargins(0, 0, 0, 0)
        self.retry_password = QLineEdit()
        self.retry_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.retry_password.setAccessibleName("IBKR password, again")
        self.retry_password.setPlaceholderText("the IBKR password, as you type it on IBKR's site")
        self.retry_button = QPushButton("&Try again")
        self.retry_button.clicked.connect(lambda: spawn(self.try_again()))
        self.retry_password.returnPressed.connect(self.retry_button.click)
        label = QLabel("&Password:")
        label.setBuddy(self.retry_password)
        retry.addWidget(label)
        retry.addWidget(self.retry_password, 1)
        retry.addWidget(self.retry_button)
        self.retry.hide()
        layout.addWidget(self.retry)
        self.current: Step | None = None
        """The step under way (marked ✗ when the run fails)."""
        self.items: dict[Step, QListWidgetItem] = {}
        self.warnings: list[QListWidgetItem] = []
        self.done = False
        self.task: asyncio.Task[Any] | None = None
        self.account_id: str | None = None
        """The account the run recorded, once it did."""

    def initializePage(self) -> None:  # noqa: N802
        self.steps.clear()
        self.items = {}
        self.warnings = []
        for step in Step:
            item = QListWidgetItem(f"○  {STEP_TITLES[step]}")
            self.steps.addItem(item)
            self.items[step] = item
        self.error.clear()
        self.done = False
        self.task = asyncio.ensure_future(self.run())

    def on_progress(self, event: Progress) -> None:
        if event.account_id is not None:
            self.account_id = event.account_id
        item = self.items.get(event.step)
        if item is None:
            return
        if event.state == "warning":  # kept on its own line under its step
            note = QListWidgetItem(f"      ⚠  {event.message}")
            note.setForeground(Qt.GlobalColor.darkYellow)
            self.steps.insertItem(self.steps.row(item) + 1, note)
            self.warnings.append(note)
            return
        if event.state in ("started", "waiting"):
            self.current = event.step
        mark = {"started": "◔", "waiting": "◔", "done": "✓", "failed": "✗"}.get(
            event.state, "○")
        item.setText(f"{mark}  {event.message}")
        self.steps.scrollToItem(item)

    async def allow_anywhere(self, why: str) -> bool:
        """Ask whether SSH may be opened to every address (this computer's could not be
        found); No is the default. Awaited: a blocking box here would stall every task."""
        return await dialogs.ask(
            self, "Allow SSH from anywhere?",
            f"{why}\n\nAllow SSH to the new server from any address? Logins still need "
            "ibdesk's key, and the gateway's ports stay closed. Diagnose narrows it to this "
            "computer later.")

    async def run(self) -> None:
        w = self._wizard
        request = w.login.request()
        request.region = w.server.region.currentData()
        request.size = w.server.size_box.currentData().slug
        request.image = (str(w.server.plan.image) if w.server.plan is not None
                         else w.server.image.text().strip() or None)
        request.local_port = w.server.port.value()
        try:
            try:
                account = await w.controller.connect_account(request, self.on_progress)
            except AddressUnknown as exc:  # asked, never assumed
                if not await self.allow_anywhere(exc.user_message):
                    self.error.setText(exc.user_message)
                    return
                request.allow_ssh_from_anywhere = True
                account = await w.controller.connect_account(request, self.on_progress)
        except IbdeskError as exc:
            self._failed(exc)
            return
        except asyncio.CancelledError:
            self.error.setText("Stopped. The server is resumed the next time ibdesk starts.")
            raise
        self.done = True
        self.setSubTitle("The gateway is logged in.")
        self.completeChanged.emit()
        w.account_connected.emit(account)

    def _failed(self, exc: IbdeskError) -> None:
        """The step under way gets its ✗; a refused password gets a field to give it again
        here (the account and its server are kept)."""
        item = self.items.get(self.current) if self.current is not None else None
        refused = isinstance(exc, LoginRefused) and self.account_id is not None
        if item is not None:  # what failed, not the step's last "under way" words
            assert self.current is not None
            item.setText("✗  " + ("IBKR refused the login" if isinstance(exc, LoginRefused)
                                  else f"{STEP_TITLES[self.current]} — failed"))
            item.setForeground(QColor(status_style.text_colour("error")))
            self.steps.scrollToItem(item)
        self.error.setText(exc.user_message + (
            " Enter the password again below: the server is kept and IBeam tries once more."
            if refused else " The account is kept with its error: retry (Resume setup) or "
            "delete it from the main window."))
        self.retry.setVisible(refused)
        if refused:
            self.retry_password.clear()
            self.retry_password.setFocus()

    async def try_again(self) -> None:
        """Carry the connect on with the password given again."""
        password = self.retry_password.text()
        if not password or self.account_id is None:
            return
        self.retry.hide()
        self.error.clear()
        w = self._wizard
        try:
            self.task = asyncio.ensure_future(
                w.controller.resume(self.account_id, password, self.on_progress))
            account = await self.task
        except IbdeskError as exc:
            self._failed(exc)
            return
        self.done = True
        self.setSubTitle("The gateway is logged in.")
        self.completeChanged.emit()
        w.account_connected.emit(account)

    def isComplete(self) -> bool:  # noqa: N802
        return self.done


class LeaveChoice(StrEnum):
    """What closing the wizard mid-setup does (asked)."""

    BACKGROUND = "background"
    DELETE = "delete"
    STAY = "stay"


class ConnectWizard(QWizard):
    account_connected = Signal(object)

    def __init__(self, controller: Controller, *, token_known: bool, parent: Any = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Connect an IBKR account")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, False)
        self.setMinimumSize(640, 480)
        self.token = TokenPage(self)
        self.login = LoginPage(self)
        self.server = ServerPage(self)
        self.review = ReviewPage(self)
        self.progress = ProgressPage(self)
        if not token_known:
            self.setPage(PAGE_TOKEN, self.token)
        self.setPage(PAGE_LOGIN, self.login)
        self.setPage(PAGE_SERVER, self.server)
        self.setPage(PAGE_REVIEW, self.review)
        self.setPage(PAGE_PROGRESS, self.progress)
        self.setStartId(PAGE_LOGIN if token_known else PAGE_TOKEN)
        self.stopping: asyncio.Future[None] | None = None
        """A "stop and delete" under way."""

    def reject(self) -> None:
        """Closing (Esc, the window's close button, Cancel) while a server is being set up
        asks what to do with it: going on in the background is the default; stopping
        deletes what was created, so nothing is left half-made and billed."""
        task = self.progress.task
        if task is None or task.done():
            super().reject()
            return
        choice = self.ask_leave()
        if choice is LeaveChoice.STAY:
            return
        if choice is LeaveChoice.DELETE:
            task.cancel()
            account_id = self.progress.account_id
            if account_id is not None:
                self.stopping = asyncio.ensure_future(self._delete_after(task, account_id))
        super().reject()

    def ask_leave(self) -> LeaveChoice:
        box = QMessageBox(QMessageBox.Icon.Question, "Stop setting up?",
                          "The server is still being set up. ibdesk can go on in the "
                          "background (the account appears in the list when it is ready), "
                          "or stop and delete what was created so far (nothing is left "
                          "billed).", parent=self)
        keep = box.addButton("Keep setting up in the background",
                             QMessageBox.ButtonRole.AcceptRole)
        delete = box.addButton("Stop and delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Don't close", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return (LeaveChoice.BACKGROUND if clicked is keep else
                LeaveChoice.DELETE if clicked is delete else LeaveChoice.STAY)

    async def _delete_after(self, task: asyncio.Task[Any], account_id: str) -> None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task  # the connect releases its operation as it ends
        await self.controller.run_action(account_id, "delete")


__all__ = ["PAGE_LOGIN", "PAGE_PROGRESS", "PAGE_REVIEW", "PAGE_SERVER", "PAGE_TOKEN",
           "ConnectWizard", "LeaveChoice"]
