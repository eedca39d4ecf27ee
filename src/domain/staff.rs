//! Staff members and what their role lets them do.

use super::choice::Choice;
use super::FieldError;

/// Least privilege: viewers read, responders post, admins manage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Viewer,
    Responder,
    Admin,
}

impl Choice for Role {
    const ALL: &'static [(Self, &'static str, &'static str)] = &[
        (Self::Viewer, "viewer", "Viewer"),
        (Self::Responder, "responder", "Responder"),
        (Self::Admin, "admin", "Admin"),
    ];
}

impl Role {
    /// True when this role includes everything `needed` may do.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// A staff email address: trimmed, lower-cased, with one `@` and no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffEmail(String);

impl StaffEmail {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split('@').count() == 2
            && !email.starts_with('@')
            && !email.ends_with('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(StaffEmail(email))
        } else {
            Err(FieldError::new(
                "email",
                "must be an email address such as ops@example.com",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Admin.allows(Role::Responder));
        assert!(!Role::Viewer.allows(Role::Responder));
    }

    #[test]
    fn staff_emails_are_normalised() {
        assert_eq!(
            StaffEmail::parse(" Ops@Example.COM ").unwrap().as_str(),
            "ops@example.com"
        );
        assert!(StaffEmail::parse("nobody").is_err());
        assert!(StaffEmail::parse("a b@example.com").is_err());
    }
}
