//! The page's overall status, by Statuspage's rules: the worst of what the open incidents say
//! (their impact) and what the components say (their status), with maintenance below any outage.

use super::choice::Choice;
use super::component::{Component, ComponentStatus};
use super::incident::{Impact, Incident, IncidentKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Choice for Indicator {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::None, "none", "All Systems Operational"),
        (Self::Minor, "minor", "Minor Service Outage"),
        (Self::Major, "major", "Partial System Outage"),
        (Self::Critical, "critical", "Major Service Outage"),
        (
            Self::Maintenance,
            "maintenance",
            "Service Under Maintenance",
        ),
    ];
}

impl Indicator {
    /// Statuspage's `status.description` for this indicator.
    pub fn description(self) -> &'static str {
        self.label()
    }

    fn of_component(status: ComponentStatus) -> Indicator {
        match status {
            ComponentStatus::Operational => Indicator::None,
            ComponentStatus::UnderMaintenance => Indicator::Maintenance,
            ComponentStatus::DegradedPerformance => Indicator::Minor,
            ComponentStatus::PartialOutage => Indicator::Major,
            ComponentStatus::MajorOutage => Indicator::Critical,
        }
    }

    fn of_incident(incident: &Incident) -> Indicator {
        if incident.kind == IncidentKind::Maintenance {
            return if incident.is_active_maintenance() {
                Indicator::Maintenance
            } else {
                Indicator::None
            };
        }
        if !incident.is_open() {
            return Indicator::None;
        }
        match incident.impact {
            Impact::None => Indicator::None,
            Impact::Maintenance => Indicator::Maintenance,
            Impact::Minor => Indicator::Minor,
            Impact::Major => Indicator::Major,
            Impact::Critical => Indicator::Critical,
        }
    }

    /// The overall indicator for these components and incidents.
    pub fn overall<'a>(
        components: impl IntoIterator<Item = &'a Component>,
        incidents: impl IntoIterator<Item = &'a Incident>,
    ) -> Indicator {
        let from_components = components.into_iter().map(|c| Self::of_component(c.status));
        let from_incidents = incidents.into_iter().map(Self::of_incident);
        from_components
            .chain(from_incidents)
            .max()
            .unwrap_or(Indicator::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::IncidentStatus;
    use chrono::Utc;

    fn component(status: ComponentStatus) -> Component {
        Component {
            id: 1,
            name: "API".into(),
            description: String::new(),
            group: None,
            position: 0,
            status,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            show_uptime: true,
            tampered: false,
        }
    }

    fn incident(kind: IncidentKind, status: IncidentStatus, impact: Impact) -> Incident {
        Incident {
            id: 1,
            kind,
            name: "x".into(),
            status,
            impact,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            started_at: Utc::now(),
            monitoring_at: None,
            resolved_at: None,
            scheduled_for: None,
            scheduled_until: None,
            updates: vec![],
            component_ids: vec![],
            postmortem: None,
            plan: Default::default(),
            tampered: false,
        }
    }

    #[test]
    fn all_operational_is_none() {
        let c = [component(ComponentStatus::Operational)];
        assert_eq!(Indicator::overall(&c, &[]), Indicator::None);
        assert_eq!(Indicator::None.description(), "All Systems Operational");
    }

    #[test]
    fn the_worst_signal_wins() {
        let c = [
            component(ComponentStatus::DegradedPerformance),
            component(ComponentStatus::UnderMaintenance),
        ];
        assert_eq!(Indicator::overall(&c, &[]), Indicator::Minor);
        let i = [incident(
            IncidentKind::Incident,
            IncidentStatus::Identified,
            Impact::Critical,
        )];
        assert_eq!(Indicator::overall(&c, &i), Indicator::Critical);
        let c = [component(ComponentStatus::MajorOutage)];
        assert_eq!(Indicator::overall(&c, &[]), Indicator::Critical);
    }

    #[test]
    fn resolved_incidents_and_future_maintenance_do_not_count() {
        let i = [
            incident(
                IncidentKind::Incident,
                IncidentStatus::Resolved,
                Impact::Critical,
            ),
            incident(
                IncidentKind::Maintenance,
                IncidentStatus::Scheduled,
                Impact::Maintenance,
            ),
        ];
        assert_eq!(Indicator::overall(&[], &i), Indicator::None);
        let i = [incident(
            IncidentKind::Maintenance,
            IncidentStatus::InProgress,
            Impact::Maintenance,
        )];
        assert_eq!(Indicator::overall(&[], &i), Indicator::Maintenance);
    }
}
