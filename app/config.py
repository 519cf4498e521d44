"""The recipe configuration file (SPEC S5, S8): `supportsync.yaml`, validated at start-up.

The path comes from `SUPPORTSYNC_CONFIG`; without it (or when the file is absent and was not
asked for explicitly) every default below applies, so the product works out of the box.
Secrets never go here: they stay in the environment (`app.settings`).

    windows:   the state machine's windows and thresholds (become `StateConfig`)
    replay:    the one-off horizon of SPEC S7
    sources:   what the inbound platforms' payloads mean in this account (where a
               ticket's reason is kept)
    recipes:   one section per recipe, `r1_suppression` ... `r19_zendesk_destination`

A bad value stops the process with `ConfigError` naming the field, e.g.
`recipes.r5_vip_routing.segments[0].priority: Input should be 'low', 'normal', ...`.
The recipe sections themselves live in `streams.recipes.settings` (routing reads them).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.settings import ConfigError
from connectors.inbound.reason import ReasonRule
from streams.recipes.settings import RecipesConfig
from streams.state.config import StateConfig

ENV_VAR = "SUPPORTSYNC_CONFIG"
DEFAULT_PATH = Path("supportsync.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Windows(_Strict):
    cooldown_days: float = Field(default=7.0, ge=0)
    recovery_days: float = Field(default=30.0, ge=0)
    recent_ticket_days: float = Field(default=14.0, ge=0)
    stale_days: float = Field(default=30.0, gt=0)
    holdout_percent: float = Field(default=0.0, ge=0, le=100)
    high_priorities: list[str] = ["high", "urgent"]
    refund_markers: list[str] = ["refund", "chargeback", "refund_request"]
    #: R3's days_since_last_open is refreshed every day up to this many days
    days_since_open_max: int = Field(default=90, ge=0)


class Replay(_Strict):
    #: one-off actions (events, tickets, acknowledgements) of replayed or backfilled events
    #: older than this are recorded but not sent (SPEC S7)
    one_off_horizon_hours: float = Field(default=72.0, ge=0)


class ZendeskSource(_Strict):
    #: id of the custom ticket field holding the ticket's reason (e.g. a "Contact reason"
    #: drop-down); read from trigger bodies, backfilled tickets and
    #: `ticket.custom_field_changed` events
    reason_field_id: int | None = Field(default=None, gt=0)
    #: a ticket tag starting with this names the reason ("reason_" + "billing")
    reason_tag_prefix: str | None = Field(default=None, min_length=1)

    def reason_rule(self) -> ReasonRule:
        field = None if self.reason_field_id is None else str(self.reason_field_id)
        return ReasonRule(field=field, tag_prefix=self.reason_tag_prefix)


class IntercomSource(_Strict):
    #: the conversation custom attribute holding the reason (e.g. "Contact reason")
    reason_attribute: str | None = Field(default=None, min_length=1)
    #: a conversation tag starting with this names the reason
    reason_tag_prefix: str | None = Field(default=None, min_length=1)

    def reason_rule(self) -> ReasonRule:
        return ReasonRule(field=self.reason_attribute, tag_prefix=self.reason_tag_prefix)


class Sources(_Strict):
    zendesk: ZendeskSource = ZendeskSource()
    intercom: IntercomSource = IntercomSource()


class SupportsyncConfig(_Strict):
    windows: Windows = Windows()
    replay: Replay = Replay()
    sources: Sources = Sources()
    recipes: RecipesConfig = RecipesConfig()

    def state_config(self) -> StateConfig:
        w = self.windows
        return StateConfig(
            cooldown=timedelta(days=w.cooldown_days),
            recovery=timedelta(days=w.recovery_days),
            recent_ticket_window=timedelta(days=w.recent_ticket_days),
            stale_after=timedelta(days=w.stale_days),
            holdout_percent=w.holdout_percent,
            open_age_max=timedelta(days=w.days_since_open_max),
            high_priorities=frozenset(p.lower() for p in w.high_priorities),
            refund_markers=frozenset(m.lower() for m in w.refund_markers),
        )

    @property
    def one_off_horizon(self) -> timedelta:
        return timedelta(hours=self.replay.one_off_horizon_hours)


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def parse_config(data: Any, *, origin: str = "config") -> SupportsyncConfig:
    """Validate a loaded document; errors name every offending field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping")
    try:
        return SupportsyncConfig.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_where(err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(f"invalid {origin}: " + "; ".join(problems)) from exc


def load_config(path: str | os.PathLike[str] | None = None) -> SupportsyncConfig:
    """The file at `path`, else `$SUPPORTSYNC_CONFIG`, else ./supportsync.yaml if present,
    else the defaults. A path given explicitly (argument or variable) must exist."""
    explicit = path if path is not None else os.environ.get(ENV_VAR) or None
    target = Path(explicit) if explicit else DEFAULT_PATH
    if not target.exists():
        if explicit:
            raise ConfigError(f"{ENV_VAR}: {target} does not exist")
        return SupportsyncConfig()
    try:
        data = yaml.safe_load(target.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{target}: not valid YAML ({exc})") from exc
    return parse_config(data, origin=str(target))
