"""Per-recipe settings (SPEC S5): the `recipes:` section of `supportsync.yaml`.

Every section has `enabled` and defaults that work without a file; docs/recipes.md lists
them. Models are strict (unknown keys are errors) so a typo never silently does nothing.
"""

from __future__ import annotations

from string import Formatter
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

ZendeskPriority = Literal["low", "normal", "high", "urgent"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


class R1Suppression(_Section):
    #: exported attribute -> Customer.io attribute name (same names on Intercom)
    attribute_names: dict[str, str] = {}
    intercom: bool = True
    holdout_attribute: str = "support_holdout"


class R2PostResolution(_Section):
    created_event: str = "zendesk_ticket_created"
    resolved_event: str = "support_ticket_resolved"


class R3Engagement(_Section):
    metrics: list[str] = ["opened", "clicked"]
    open_field: str = "last_email_open_at"
    click_field: str = "last_email_click_at"
    campaign_field: str = "last_campaign"
    days_since_open_field: str = "days_since_last_open"
    intercom: bool = True


class R4LifecycleUsers(_Section):
    lifecycle_events: list[str] = ["signed_up", "trial_started", "plan_changed"]
    segments: list[str] = ["churn-risk"]
    plan_attribute: str = "plan"
    plan_field: str = "plan_tier"
    stage_field: str = "lifecycle_stage"


class VipRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    segment: str | None = None  # Customer.io segment held in the state
    plan: str | None = None  # or a plan attribute value (e.g. from Intercom)
    priority: ZendeskPriority | None = None
    tags: list[str] = []
    group_id: int | None = None
    assignee_id: int | None = None

    @model_validator(mode="after")
    def _one_match(self) -> VipRule:
        if (self.segment is None) == (self.plan is None):
            raise ValueError("give exactly one of segment or plan")
        return self


class R5VipRouting(_Section):
    segments: list[VipRule] = [VipRule(segment="vip", priority="high", tags=["vip"])]
    plan_attribute: str = "plan"


class R6Csat(_Section):
    score_attribute: str = "last_csat_score"
    at_attribute: str = "last_csat_at"
    #: Customer.io event for every rating ("" sends none)
    event: str = "csat_received"
    low_event: str = "low_csat_received"


class R7ChurnOutreach(_Section):
    segment: str = "churn-risk"
    tag: str = "proactive-outreach"
    subject: str = "Proactive outreach: customer at churn risk"
    priority: ZendeskPriority = "normal"
    tier_attribute: str = "plan"
    region_attribute: str = "region"
    groups_by_tier: dict[str, int] = {}
    groups_by_region: dict[str, int] = {}
    #: also open an Intercom conversation with the customer for their CSM (contacts
    #: Intercom knows): the admin id is the profile attribute `csm_attribute`, else
    #: `default_csm_admin_id`; the support context goes in as an internal note
    intercom_conversation: bool = False
    csm_attribute: str = "csm_admin_id"
    default_csm_admin_id: str | None = None
    conversation_body: str = "Hi! I'm checking in to see how things are going. Can I help?"


class R8Escalation(_Section):
    tags: list[str] = ["escalate"]
    priority: dict[str, ZendeskPriority] = {"high": "urgent", "normal": "high"}
    default_priority: ZendeskPriority = "high"
    link_tag_prefix: str = "intercom_conversation_"


class R9StatusBack(_Section):
    mode: Literal["note", "reply"] = "note"
    close_when_solved: bool = True
    statuses: list[str] = ["pending", "hold", "solved", "closed"]


class TagMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    intercom: str
    intercom_tag_id: str | None = None  # Intercom tags are applied by id
    zendesk: str


class R11TagMapping(_Section):
    tags: list[TagMapping] = []


_ACK_FIELDS = frozenset({"ticket_id", "expected_response"})


class R12Acknowledge(_Section):
    channels: list[str] = ["web", "email", "mail"]
    #: event: an Intercom data event (an Intercom series sends the message);
    #: message: supportsync sends the message itself (POST /messages, from the admin)
    mode: Literal["event", "message"] = "event"
    event_name: str = "zendesk_ticket_acknowledged"
    message_type: Literal["email", "in_app"] = "email"
    #: templates: {ticket_id} and {expected_response} are filled in
    subject: str = "We received your request #{ticket_id}"
    body: str = (
        "Thanks for getting in touch. Your request #{ticket_id} is with our support team;"
        " expect an answer within {expected_response}."
    )
    response_times: dict[str, str] = {
        "urgent": "1 hour",
        "high": "4 hours",
        "normal": "1 business day",
        "low": "2 business days",
    }

    @model_validator(mode="after")
    def _known_placeholders(self) -> R12Acknowledge:
        for name in ("subject", "body"):
            used = {f for _, f, _, _ in Formatter().parse(getattr(self, name)) if f}
            if used - _ACK_FIELDS:
                raise ValueError(f"{name}: unknown placeholder(s) {sorted(used - _ACK_FIELDS)};"
                                 f" use {sorted(_ACK_FIELDS)}")
        return self


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Zendesk user property (name, email, ...) or custom user field key
    zendesk: str
    #: Intercom contact field (name, email, ...) or custom attribute
    intercom: str
    #: the Zendesk custom user field's id: `user.custom_field_changed` webhooks name the
    #: field by id, so give it for a custom field (its key alone is enough for writes)
    zendesk_field_id: str | None = None
    pinned: Literal["zendesk", "intercom"] | None = None


class OrganizationSync(BaseModel):
    """Zendesk organizations → Intercom companies (`company_id` = `company_id_prefix` +
    the organization id; the organization's name and mapped organization fields)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    company_id_prefix: str = "zendesk-org-"
    #: Zendesk organization field (key, or id as webhooks name it) -> Intercom company
    #: attribute (plan, industry, website, size, monthly_spend or a custom attribute)
    fields: dict[str, str] = {}


class R10ProfileSync(_Section):
    #: profile field -> its name on each side. A change reported by Zendesk under the
    #: `zendesk` name (or `zendesk_field_id`) goes to Intercom under the `intercom` name,
    #: and the other way round.
    fields: dict[str, FieldRule] = {
        "name": FieldRule(zendesk="name", intercom="name"),
        "email": FieldRule(zendesk="email", intercom="email"),
        "company": FieldRule(zendesk="company", intercom="company"),
        "plan": FieldRule(zendesk="plan_tier", intercom="plan"),
    }
    organizations: OrganizationSync = OrganizationSync()


class R13CioToIntercom(_Section):
    segments: list[str] | None = None  # None: every segment
    attribute_prefix: str = "cio_segment_"
    segment_tag_ids: dict[str, str] = {}
    conversion_attribute: str = "last_conversion_at"
    events: list[str] = ["signed_up", "trial_started", "plan_changed"]


class R14IntercomToCio(_Section):
    nurture_event: str = "intercom_contact_created"
    resolved_event: str = "support_resolved"
    attributes: list[str] = ["name", "role"]


class R15UnsubscribeSync(_Section):
    customerio_attribute: str = "unsubscribed"


class R16DataOut(_Section):
    webhook: bool = True
    warehouse: bool = True
    #: identifier -> consent channel that must be allowed for it to be exported
    identifier_consent: dict[str, Literal["email", "sms", "ads"]] = {
        "email": "email",
        "phone": "sms",
        "external_id": "email",
        "cio_id": "email",
        "zendesk_user_id": "email",
        "intercom_contact_id": "email",
    }


class R17AdAudiences(_Section):
    suppress_audience: str = "suppress_promos"
    recovery_audience: str = "service_recovery"
    suppress_states: list[str] = ["open", "escalated", "cooldown"]
    #: opt_in: only people who opted in to ads (a `subscribed` event for channel ads);
    #: opt_out: everyone who has not withdrawn ads consent
    ads_consent: Literal["opt_in", "opt_out"] = "opt_in"


class R18Reporting(_Section):
    webhook: bool = True
    warehouse: bool = True
    metrics: bool = True


class R19ZendeskDestination(_Section):
    skip_verify_email: bool = False
    create_users_as_verified: bool = False
    ticket_created_event: str = "Ticket Created"
    ticket_updated_event: str = "Ticket Updated"


class RecipesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    r1_suppression: R1Suppression = R1Suppression()
    r2_post_resolution: R2PostResolution = R2PostResolution()
    r3_engagement: R3Engagement = R3Engagement()
    r4_lifecycle_users: R4LifecycleUsers = R4LifecycleUsers()
    r5_vip_routing: R5VipRouting = R5VipRouting()
    r6_csat: R6Csat = R6Csat()
    r7_churn_outreach: R7ChurnOutreach = R7ChurnOutreach()
    r8_escalation: R8Escalation = R8Escalation()
    r9_status_back: R9StatusBack = R9StatusBack()
    r10_profile_sync: R10ProfileSync = R10ProfileSync()
    r11_tag_mapping: R11TagMapping = R11TagMapping()
    r12_acknowledge: R12Acknowledge = R12Acknowledge()
    r13_cio_to_intercom: R13CioToIntercom = R13CioToIntercom()
    r14_intercom_to_cio: R14IntercomToCio = R14IntercomToCio()
    r15_unsubscribe_sync: R15UnsubscribeSync = R15UnsubscribeSync()
    r16_data_out: R16DataOut = R16DataOut()
    r17_ad_audiences: R17AdAudiences = R17AdAudiences()
    r18_reporting: R18Reporting = R18Reporting()
    r19_zendesk_destination: R19ZendeskDestination = R19ZendeskDestination()
