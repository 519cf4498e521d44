"""R1 suppression attributes, R15 unsubscribe sync, R17 ad audiences (SPEC S5).

R1   exported support attributes → Customer.io identify, and the same flags as Intercom
     contact custom attributes for customers Intercom knows. Holdout customers are never
     suppressed: their suppression flags are withheld and `support_holdout: true` is sent.
R15  a `consent_changed` on one platform → the email subscription on the others
     (Customer.io attribute `unsubscribed`, Intercom `unsubscribed_from_emails`). The value
     pushed is the combined consent, so an unsubscribe anywhere wins and a resubscribe only
     propagates once no platform holds an unsubscribe.
R17  entering/leaving the suppressing states → add/remove in the "suppress promos"
     audience; entering/leaving `recovery` → the "service recovery" audience. Only with ads
     consent (by default an explicit opt-in: `ads_consent: opt_in`) and an email; holdout
     customers never join the suppression audience. Withdrawing ads consent removes the
     person from every audience; opting in adds them where their state puts them.
"""

from __future__ import annotations

from typing import Any

from contracts.actions import Priority
from contracts.events import Identities
from streams.recipes.base import Emit, customerio_person, helpdesk_person, linked_kinds
from streams.recipes.settings import RecipesConfig
from streams.state.transitions import Transition

R1_FIELDS = (
    "has_open_ticket",
    "open_ticket_count",
    "last_ticket_at",
    "last_ticket_status",
    "ticket_reason",
    "support_state",
    "refund_risk",
    "recent_ticket",
)
SUPPRESSION_FIELDS = frozenset({"has_open_ticket", "support_state", "refund_risk"})


def r1_attributes(t: Transition, config: RecipesConfig) -> dict[str, Any]:
    """The R1 fields, holdout-aware: every known value (so a later identify repairs an
    earlier lost write; the sinks send only what differs from the last delivery), and a
    value that became absent cleared with "" (how Customer.io removes an attribute)."""
    names = config.r1_suppression.attribute_names
    wanted = [k for k in R1_FIELDS if t.attributes.get(k) is not None or k in t.changed]
    if t.holdout:
        wanted = [k for k in wanted if k not in SUPPRESSION_FIELDS]
    attributes: dict[str, Any] = {
        names.get(k, k): ("" if t.attributes.get(k) is None else t.attributes[k]) for k in wanted
    }
    if t.holdout and attributes:
        attributes[config.r1_suppression.holdout_attribute] = True
    return attributes


def r1(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    if t.kind == "identities_linked":
        r1_linked(emit, t, config, identifier)
        return
    if t.kind != "attributes_changed" or not set(R1_FIELDS) & set(t.changed):
        return
    attributes = r1_attributes(t, config)
    if not attributes:
        return
    suppressing = bool(SUPPRESSION_FIELDS & set(t.changed)) and not t.holdout
    priority: Priority = "suppression" if suppressing else "enrichment"
    person = customerio_person(t.identities, t.customer_key, identifier)
    if not emit.wants("customerio"):
        pass
    elif person is None:
        emit.reject("R1", "no_identifier", f"no {identifier} known", "customerio", _record(t),
                    sink="customerio")
    else:
        emit.add("R1", "customerio", "identify", person, {"attributes": attributes},
                 priority=priority)
    contact = helpdesk_person(t.identities)
    if config.r1_suppression.intercom and t.identities.intercom_contact_id and contact:
        emit.add("R1", "intercom", "update_contact", contact, {"attributes": attributes},
                 priority=priority)


def r1_linked(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    """A platform that could not be addressed gets the attributes the others already have:
    the Intercom contact of a customer whose ticket opened before Intercom knew them, the
    Customer.io person once their identifier is known. Nothing for a customer who never had
    a ticket and is in no support state (there is nothing to bring up to date)."""
    added = linked_kinds(t)
    if (t.attributes.get("last_ticket_at") is None
            and t.attributes.get("support_state") in (None, "clear")):
        return
    attributes = r1_attributes(t, config)
    if not attributes:
        return
    state = t.attributes.get("support_state")
    suppressing = not t.holdout and (t.attributes.get("has_open_ticket") is True
                                     or state not in (None, "clear"))
    priority: Priority = "suppression" if suppressing else "enrichment"
    person = customerio_person(t.identities, t.customer_key, identifier)
    if identifier in added and person is not None:
        emit.add("R1", "customerio", "identify", person, {"attributes": attributes},
                 priority=priority)
    contact = helpdesk_person(t.identities)
    if "intercom_contact_id" in added and config.r1_suppression.intercom and contact:
        emit.add("R1", "intercom", "update_contact", contact, {"attributes": attributes},
                 priority=priority)


def r15(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    if t.kind == "identities_linked":
        r15_linked(emit, t, config, identifier)
        return
    if t.kind != "consent_changed" or not t.details:
        return
    if str(t.details.get("channel")) != "email":
        return
    platform = str(t.details.get("platform"))
    unsubscribed = not t.consent.allows("email")
    if platform != "customerio":
        person = customerio_person(t.identities, t.customer_key, identifier)
        if person is not None:
            attribute = config.r15_unsubscribe_sync.customerio_attribute
            emit.add("R15", "customerio", "identify", person,
                     {"attributes": {attribute: unsubscribed}}, priority="suppression")
    contact = helpdesk_person(t.identities)
    if platform != "intercom" and t.identities.intercom_contact_id and contact:
        emit.add("R15", "intercom", "update_contact", contact,
                 {"attributes": {"unsubscribed_from_emails": unsubscribed}},
                 priority="suppression")


def r15_linked(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    """An email unsubscribe reaches a platform that learns of the customer afterwards (an
    Intercom contact created later, the Customer.io identifier arriving later), unless that
    platform is where every unsubscribe came from (it knows already)."""
    if t.consent.allows("email"):
        return
    added = linked_kinds(t)
    origins = t.consent.unsubscribed_on("email")
    person = customerio_person(t.identities, t.customer_key, identifier)
    if identifier in added and person is not None and origins - {"customerio"}:
        attribute = config.r15_unsubscribe_sync.customerio_attribute
        emit.add("R15", "customerio", "identify", person, {"attributes": {attribute: True}},
                 priority="suppression")
    contact = helpdesk_person(t.identities)
    if "intercom_contact_id" in added and contact and origins - {"intercom"}:
        emit.add("R15", "intercom", "update_contact", contact,
                 {"attributes": {"unsubscribed_from_emails": True}}, priority="suppression")


def ads_allowed(t: Transition, config: RecipesConfig) -> bool:
    """Ads use needs no withdrawal anywhere and, in `opt_in` mode (the default), an
    explicit opt-in (a `subscribed` event for the ads channel)."""
    if not t.consent.ads:
        return False
    return config.r17_ad_audiences.ads_consent == "opt_out" or t.consent.opted_in_to("ads")


def r17(emit: Emit, t: Transition, config: RecipesConfig) -> None:
    email = t.identities.email
    if not email:
        return  # nothing to hash
    settings = config.r17_ad_audiences
    suppress = set(settings.suppress_states)
    memberships = [(settings.recovery_audience, {"recovery"})]
    if not t.holdout:
        memberships.insert(0, (settings.suppress_audience, suppress))
    allowed = ads_allowed(t, config)
    if t.kind == "consent_changed":
        if not t.details or str(t.details.get("channel")) != "ads":
            return
        state = str(t.attributes.get("support_state"))
        for audience in (settings.suppress_audience, settings.recovery_audience):
            if not allowed:  # withdrawn: out of every audience, whatever the state
                emit.add("R17", "audiences", "audience_remove", email,
                         {"audience": audience, "ads_consent": False, "email": email},
                         priority="analytics", discriminator=audience)
            elif any(a == audience and state in states for a, states in memberships):
                emit.add("R17", "audiences", "audience_add", email,
                         {"audience": audience, "ads_consent": True, "email": email},
                         priority="analytics", discriminator=audience)
        return
    if t.kind != "support_state_changed" or not allowed:
        return  # never for customers without ads consent
    for audience, states in memberships:
        was, now = t.old_state in states, t.new_state in states
        if was == now:
            continue
        operation = "audience_add" if now else "audience_remove"
        payload = {"audience": audience, "ads_consent": True, "email": email}
        emit.add("R17", "audiences", operation, email, payload, priority="analytics",
                 discriminator=audience)


def merged_away(emit: Emit, t: Transition, config: RecipesConfig, identifier: str) -> None:
    """An identity merge: the absorbed customer's Customer.io profile is merged into the
    survivor's (`merge_customers`: Customer.io deletes the secondary, so its suppression
    attributes never stay on), and its email, if another, leaves every ad audience (the
    survivor's memberships follow the merged state)."""
    if t.kind != "states_merged" or not t.details:
        return
    found = t.details.get("absorbed_identities")
    absorbed = Identities.from_dict(found) if isinstance(found, dict) else Identities()
    absorbed_key = str(t.details.get("absorbed") or "")
    if config.r1_suppression.enabled:
        survivor = customerio_person(t.identities, t.customer_key, identifier)
        secondary = customerio_person(absorbed, absorbed_key, identifier)
        if survivor and secondary and secondary != survivor:
            emit.add("R1", "customerio", "merge", survivor, {"secondary_person": secondary},
                     priority="suppression")
    email = absorbed.email
    if config.r17_ad_audiences.enabled and email and email != t.identities.email:
        settings = config.r17_ad_audiences
        for audience in (settings.suppress_audience, settings.recovery_audience):
            emit.add("R17", "audiences", "audience_remove", email,
                     {"audience": audience, "ads_consent": False, "email": email},
                     priority="analytics", discriminator=audience)


def _record(t: Transition) -> dict[str, Any]:
    return {"transition": t.json_dict()}
