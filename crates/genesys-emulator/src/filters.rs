//! Analytics query filters (docs/genesys-api.md §7.1, §7.2, §7.4): `{type: and|or, predicates,
//! clauses}` evaluated against a row that can name its dimension values and metrics.
//!
//! A predicate's `operator` is `matches` (the default: equal to `value`, or inside `range`),
//! `exists` or `notExists`. Dimensions the emulator does not model have no value, so
//! `matches` and `exists` are false for them and `notExists` is true. Dimension names are
//! checked against the model's enum: an unknown one is a 400, as with the real service.

use serde::Deserialize;

use super::errors::ApiError;

/// `SegmentDetailQueryPredicate.dimension`.
pub const SEGMENT_DIMENSIONS: &[&str] = &[
    "addressFrom",
    "addressTo",
    "agentAssistantId",
    "agentOwned",
    "ani",
    "authenticated",
    "bargedParticipantId",
    "callbackNumber",
    "callbackScheduledTime",
    "canonicalExternalContactId",
    "cleared",
    "coachedParticipantId",
    "conference",
    "deliveryPushed",
    "deliveryStatus",
    "destinationAddress",
    "destinationConversationId",
    "detectedSpeechEnd",
    "detectedSpeechStart",
    "direction",
    "disconnectType",
    "dnis",
    "edgeId",
    "engagementSource",
    "errorCode",
    "exitReason",
    "extendedDeliveryStatus",
    "externalContactId",
    "externalOrganizationId",
    "flaggedReason",
    "flowId",
    "flowName",
    "flowOutType",
    "flowOutcome",
    "flowOutcomeId",
    "flowOutcomeValue",
    "flowVersion",
    "groupId",
    "journeyActionId",
    "journeyActionMapId",
    "journeyCustomerId",
    "journeyCustomerIdType",
    "journeyCustomerSessionId",
    "mediaCount",
    "mediaType",
    "messageType",
    "monitoredParticipantId",
    "outboundCampaignId",
    "outboundContactId",
    "outboundContactListId",
    "participantName",
    "protocolCallId",
    "provider",
    "purpose",
    "queueId",
    "recording",
    "remote",
    "remoteNameDisplayable",
    "requestedLanguageId",
    "requestedRouting",
    "requestedRoutingSkillId",
    "scoredAgentId",
    "screenMonitoredUserId",
    "screenRecording",
    "scriptId",
    "segmentEnd",
    "segmentType",
    "sessionDnis",
    "sipResponseCode",
    "skillExpressionId",
    "snippetRecording",
    "subject",
    "teamId",
    "transferTargetAddress",
    "transferTargetName",
    "transferType",
    "usedRouting",
    "userId",
    "wrapUpCode",
    "wrapUpNote",
];

/// `ConversationDetailQueryPredicate.dimension`.
pub const CONVERSATION_DIMENSIONS: &[&str] = &[
    "accessAttribute",
    "conversationEnd",
    "conversationId",
    "conversationInitiator",
    "conversationStart",
    "customerParticipation",
    "divisionId",
    "externalTag",
    "mediaStatsMinConversationMos",
    "originatingDirection",
    "originatingSocialMediaPublic",
];

/// `ConversationAggregateQueryPredicate.dimension` (also the valid `groupBy` values).
pub const AGGREGATE_DIMENSIONS: &[&str] = &[
    "activeRouting",
    "activeSkillId",
    "addressFrom",
    "addressTo",
    "agentAssistantId",
    "agentBullseyeRing",
    "agentOwned",
    "agentRank",
    "agentScore",
    "ani",
    "assignerId",
    "authenticated",
    "canonicalExternalContactId",
    "conversationId",
    "conversationInitiator",
    "convertedFrom",
    "convertedTo",
    "customerParticipation",
    "deliveryStatus",
    "destinationAddress",
    "direction",
    "disconnectType",
    "divisionId",
    "dnis",
    "edgeId",
    "eligibleAgentCount",
    "errorCode",
    "extendedDeliveryStatus",
    "externalContactId",
    "externalMediaCount",
    "externalOrganizationId",
    "externalTag",
    "firstQueue",
    "flaggedReason",
    "flowInType",
    "flowOutType",
    "groupId",
    "interactionType",
    "journeyActionId",
    "journeyActionMapId",
    "journeyActionMapVersion",
    "journeyCustomerId",
    "journeyCustomerIdType",
    "journeyCustomerSessionId",
    "journeyCustomerSessionIdType",
    "knowledgeBaseId",
    "mediaCount",
    "mediaType",
    "messageType",
    "originatingDirection",
    "originatingSocialMediaPublic",
    "outboundCampaignId",
    "outboundContactId",
    "outboundContactListId",
    "participantName",
    "peerId",
    "proposedAgentId",
    "provider",
    "purpose",
    "queueId",
    "remote",
    "removedSkillId",
    "requestedLanguageId",
    "requestedRouting",
    "requestedRoutingSkillId",
    "roomId",
    "routingPriority",
    "routingRing",
    "routingRule",
    "routingRuleType",
    "scoredAgentId",
    "selectedAgentId",
    "selectedAgentRank",
    "selfServed",
    "sessionDnis",
    "sessionId",
    "skillExpressionId",
    "stationId",
    "teamId",
    "usedRouting",
    "userId",
    "videoPresent",
    "waitingInteractionCount",
    "wrapUpCode",
];

/// `UserDetailQueryPredicate.dimension`.
pub const USER_DIMENSIONS: &[&str] = &["userId"];
/// `PresenceDetailQueryPredicate.dimension`.
pub const PRESENCE_DIMENSIONS: &[&str] = &["organizationPresenceId", "systemPresence"];
/// `RoutingStatusDetailQueryPredicate.dimension`.
pub const ROUTING_STATUS_DIMENSIONS: &[&str] = &["routingStatus"];

/// A `*QueryFilter`.
#[derive(Debug, Clone, Deserialize)]
pub struct Filter {
    pub r#type: Option<String>,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
    #[serde(default)]
    pub clauses: Vec<Clause>,
}

/// A `*QueryClause`.
#[derive(Debug, Clone, Deserialize)]
pub struct Clause {
    pub r#type: Option<String>,
    #[serde(default)]
    pub predicates: Vec<Predicate>,
}

/// A `*QueryPredicate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Predicate {
    pub r#type: Option<String>,
    pub dimension: Option<String>,
    pub property: Option<String>,
    pub metric: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub range: Option<NumericRange>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct NumericRange {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
}

impl NumericRange {
    fn contains(&self, x: f64) -> bool {
        self.gt.is_none_or(|v| x > v)
            && self.gte.is_none_or(|v| x >= v)
            && self.lt.is_none_or(|v| x < v)
            && self.lte.is_none_or(|v| x <= v)
    }
}

/// Something a predicate can look at.
pub trait Row {
    /// Values of a dimension (empty when absent; several for multi-valued ones).
    fn dimension(&self, name: &str) -> Vec<String>;
    /// Value of a metric, when the row has it.
    fn metric(&self, name: &str) -> Option<f64>;
}

fn check_type(kind: Option<&str>, what: &str) -> Result<(), ApiError> {
    match kind {
        Some("and" | "or") => Ok(()),
        Some(other) => Err(ApiError::invalid_value(other, what, &["and", "or"])),
        None => Err(
            ApiError::bad_request(format!("{what} needs a type (and, or)"))
                .detail("required", Some("type")),
        ),
    }
}

impl Filter {
    /// Checks the filter's shape and dimension names.
    pub fn validate(&self, dimensions: &[&str]) -> Result<(), ApiError> {
        check_type(self.r#type.as_deref(), "filter type")?;
        for p in &self.predicates {
            p.validate(dimensions)?;
        }
        for c in &self.clauses {
            check_type(c.r#type.as_deref(), "clause type")?;
            if c.predicates.is_empty() {
                return Err(ApiError::bad_request("A clause needs predicates"));
            }
            for p in &c.predicates {
                p.validate(dimensions)?;
            }
        }
        Ok(())
    }

    pub fn matches(&self, row: &dyn Row) -> bool {
        let or = self.r#type.as_deref() == Some("or");
        let mut results = self
            .predicates
            .iter()
            .map(|p| p.matches(row))
            .chain(self.clauses.iter().map(|c| {
                let results = c.predicates.iter().map(|p| p.matches(row));
                if c.r#type.as_deref() == Some("or") {
                    results.into_iter().any(|b| b)
                } else {
                    results.into_iter().all(|b| b)
                }
            }))
            .peekable();
        if results.peek().is_none() {
            return true;
        }
        if or {
            results.any(|b| b)
        } else {
            results.all(|b| b)
        }
    }
}

impl Predicate {
    fn kind(&self) -> &str {
        match self.r#type.as_deref() {
            Some(t) => t,
            None if self.metric.is_some() => "metric",
            None if self.property.is_some() => "property",
            None => "dimension",
        }
    }

    fn validate(&self, dimensions: &[&str]) -> Result<(), ApiError> {
        let operator = self.operator.as_deref().unwrap_or("matches");
        if !["matches", "exists", "notExists"].contains(&operator) {
            return Err(ApiError::invalid_value(
                operator,
                "operator",
                &["matches", "exists", "notExists"],
            ));
        }
        match self.kind() {
            "dimension" => {
                let d = self.dimension.as_deref().ok_or_else(|| {
                    ApiError::bad_request("A dimension predicate needs a dimension")
                })?;
                if !dimensions.contains(&d) {
                    return Err(ApiError::invalid_value(d, "dimension", dimensions));
                }
            }
            "metric" => {
                if self.metric.is_none() {
                    return Err(ApiError::bad_request("A metric predicate needs a metric"));
                }
            }
            "property" => {
                if self.property.is_none() {
                    return Err(ApiError::bad_request(
                        "A property predicate needs a property",
                    ));
                }
            }
            other => {
                return Err(ApiError::invalid_value(
                    other,
                    "predicate type",
                    &["dimension", "property", "metric"],
                ));
            }
        }
        if operator == "matches" && self.value.is_none() && self.range.is_none() {
            return Err(ApiError::bad_request(
                "A matches predicate needs a value or a range",
            ));
        }
        Ok(())
    }

    fn matches(&self, row: &dyn Row) -> bool {
        let operator = self.operator.as_deref().unwrap_or("matches");
        let values: Vec<String> = match self.kind() {
            "dimension" => row.dimension(self.dimension.as_deref().unwrap_or_default()),
            "metric" => row
                .metric(self.metric.as_deref().unwrap_or_default())
                .map(|v| v.to_string())
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        match operator {
            "exists" => !values.is_empty(),
            "notExists" => values.is_empty(),
            _ => values.iter().any(|v| {
                let by_value = self.value.as_ref().is_none_or(|want| {
                    want == v
                        || matches!((want.parse::<f64>(), v.parse::<f64>()), (Ok(a), Ok(b)) if (a - b).abs() < f64::EPSILON)
                });
                let by_range = self
                    .range
                    .is_none_or(|r| v.parse::<f64>().is_ok_and(|x| r.contains(x)));
                by_value && by_range
            }),
        }
    }
}

/// Checks a list of filters.
pub fn validate_all(filters: &[Filter], dimensions: &[&str]) -> Result<(), ApiError> {
    filters.iter().try_for_each(|f| f.validate(dimensions))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Seg {
        user: &'static str,
        purpose: &'static str,
    }

    impl Row for Seg {
        fn dimension(&self, name: &str) -> Vec<String> {
            match name {
                "userId" => vec![self.user.into()],
                "purpose" => vec![self.purpose.into()],
                _ => vec![],
            }
        }
        fn metric(&self, _: &str) -> Option<f64> {
            Some(1500.0)
        }
    }

    fn filter(json: &str) -> Filter {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn and_filters_need_every_predicate_and_or_filters_one() {
        let row = Seg {
            user: "u1",
            purpose: "agent",
        };
        let and = filter(
            r#"{"type":"and","predicates":[{"dimension":"userId","value":"u1"},{"dimension":"purpose","value":"customer"}]}"#,
        );
        assert!(!and.matches(&row));
        let or = filter(
            r#"{"type":"or","predicates":[{"dimension":"userId","value":"u1"},{"dimension":"purpose","value":"customer"}]}"#,
        );
        assert!(or.matches(&row));
    }

    #[test]
    fn exists_and_ranges_work_on_dimensions_and_metrics() {
        let row = Seg {
            user: "u1",
            purpose: "agent",
        };
        assert!(
            filter(
                r#"{"type":"and","predicates":[{"dimension":"queueId","operator":"notExists"}]}"#
            )
            .matches(&row)
        );
        assert!(filter(r#"{"type":"and","predicates":[{"type":"metric","metric":"tSegmentDuration","range":{"gte":1000,"lt":2000}}]}"#).matches(&row));
        assert!(!filter(r#"{"type":"and","clauses":[{"type":"and","predicates":[{"dimension":"userId","value":"u2"}]}]}"#).matches(&row));
    }

    #[test]
    fn unknown_dimensions_and_missing_types_are_rejected() {
        let f = filter(r#"{"type":"and","predicates":[{"dimension":"userid","value":"u1"}]}"#);
        assert_eq!(
            f.validate(SEGMENT_DIMENSIONS).unwrap_err().code,
            "invalid.value"
        );
        let f = filter(r#"{"predicates":[{"dimension":"userId","value":"u1"}]}"#);
        assert!(f.validate(SEGMENT_DIMENSIONS).is_err());
        let f = filter(r#"{"type":"and","predicates":[{"dimension":"userId"}]}"#);
        assert!(f.validate(SEGMENT_DIMENSIONS).is_err());
    }
}
