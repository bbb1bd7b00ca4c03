//! Who may do what: the one role × permission matrix of the admin/API port. Every handler asks
//! [`Principal::scope`]; nothing else decides. The table is written out in `docs/access.md`.

use serde::{Deserialize, Serialize};

/// What an account is for. Config and logs spell these in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 中心管理员: everything, including dial plan reload.
    CenterAdmin,
    /// 班长: every ticket, the wallboard and status, transfer statistics.
    Supervisor,
    /// 话务员: opens tickets, reads and acts on them.
    Operator,
    /// 承办单位: only the tickets of its own department.
    Department,
    /// 审计员: reads the access log, nothing else.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::CenterAdmin,
        Role::Supervisor,
        Role::Operator,
        Role::Department,
        Role::Auditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CenterAdmin => "center_admin",
            Role::Supervisor => "supervisor",
            Role::Operator => "operator",
            Role::Department => "department",
            Role::Auditor => "auditor",
        }
    }
}

/// Something a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `POST /api/tickets`.
    CreateTicket,
    /// List and read tickets (personal data: every read is in the access log).
    ReadTickets,
    /// The department's steps: sign, handle, reply, return (签收, 办理, 答复, 退单).
    ActAsDepartment,
    /// The center's steps: dispatch, reassign, supervise, close, call back, evaluate.
    ActAsCenter,
    /// The server-sent stream of created/changed tickets.
    WatchTickets,
    /// `GET /api/stats/transfers`.
    ReadTransferStats,
    /// The access log (who read or was refused what).
    ReadAccessLog,
    /// `/status`, `/wallboard`, and `/metrics` + `/healthz` when the admin port is not loopback.
    ViewStatus,
    /// `POST /admin/reload`.
    ReloadDialplan,
    /// `POST /admin/drain`: stop taking calls, let those up finish, then exit (an upgrade's restart).
    Drain,
    /// `POST /api/seats/{id}/actions`: log an operator in or out, ready, not ready, end a wrap-up on their behalf
    /// (operators themselves use the feature codes on their softphone).
    ManageSeats,
}

impl Permission {
    pub const ALL: [Permission; 11] = [
        Permission::CreateTicket,
        Permission::ReadTickets,
        Permission::ActAsDepartment,
        Permission::ActAsCenter,
        Permission::WatchTickets,
        Permission::ReadTransferStats,
        Permission::ReadAccessLog,
        Permission::ViewStatus,
        Permission::ReloadDialplan,
        Permission::ManageSeats,
        Permission::Drain,
    ];
}

/// How far a permission reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Refused (403).
    None,
    /// Only what belongs to the account's department.
    OwnDepartment,
    All,
}

/// The matrix.
pub fn scope(role: Role, p: Permission) -> Scope {
    use Permission as P;
    use Role as R;
    match (role, p) {
        (R::CenterAdmin, _) => Scope::All,
        (R::Supervisor, P::ReadAccessLog | P::ReloadDialplan | P::Drain) => Scope::None,
        (R::Supervisor, _) => Scope::All,
        (
            R::Operator,
            P::CreateTicket
            | P::ReadTickets
            | P::ActAsDepartment
            | P::ActAsCenter
            | P::WatchTickets,
        ) => Scope::All,
        (R::Operator, _) => Scope::None,
        (R::Department, P::ReadTickets | P::ActAsDepartment | P::WatchTickets) => {
            Scope::OwnDepartment
        }
        (R::Department, _) => Scope::None,
        (R::Auditor, P::ReadAccessLog) => Scope::All,
        (R::Auditor, _) => Scope::None,
    }
}

/// An authenticated account: the actor of every history and access-log row it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account name from the config (never a client-supplied header).
    pub account: String,
    pub role: Role,
    /// Set for [`Role::Department`] accounts.
    pub department: Option<String>,
}

impl Principal {
    pub fn scope(&self, p: Permission) -> Scope {
        scope(self.role, p)
    }

    /// May this account do `p` to something of `department`?
    pub fn may(&self, p: Permission, department: &str) -> bool {
        match self.scope(p) {
            Scope::All => true,
            Scope::OwnDepartment => self.department.as_deref() == Some(department),
            Scope::None => false,
        }
    }

    /// May it do `p` at all (to anything)?
    pub fn may_some(&self, p: Permission) -> bool {
        self.scope(p) != Scope::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, dept: Option<&str>) -> Principal {
        Principal {
            account: "a".into(),
            role,
            department: dept.map(str::to_string),
        }
    }

    #[test]
    fn matrix_rows_as_documented() {
        use Permission as P;
        let admin = who(Role::CenterAdmin, None);
        assert!(P::ALL.iter().all(|&p| admin.may(p, "water")));
        let sup = who(Role::Supervisor, None);
        assert!(sup.may(P::ViewStatus, "") && sup.may(P::ActAsCenter, "water"));
        assert!(!sup.may_some(P::ReloadDialplan) && !sup.may_some(P::ReadAccessLog));
        assert!(admin.may_some(P::Drain) && !sup.may_some(P::Drain));
        let op = who(Role::Operator, None);
        assert!(op.may(P::CreateTicket, "water") && op.may(P::ReadTickets, "power"));
        assert!(!op.may_some(P::ReloadDialplan) && !op.may_some(P::ViewStatus));
        assert!(sup.may_some(P::ManageSeats) && !op.may_some(P::ManageSeats));
        let dept = who(Role::Department, Some("water"));
        assert!(dept.may(P::ReadTickets, "water") && dept.may(P::ActAsDepartment, "water"));
        assert!(!dept.may(P::ReadTickets, "power") && !dept.may(P::ActAsDepartment, "power"));
        assert!(!dept.may_some(P::ActAsCenter) && !dept.may_some(P::CreateTicket));
        // A department account without a department (refused by config validation) sees nothing.
        assert!(!who(Role::Department, None).may(P::ReadTickets, ""));
        let aud = who(Role::Auditor, None);
        let allowed: Vec<P> = P::ALL.into_iter().filter(|&p| aud.may_some(p)).collect();
        assert_eq!(allowed, [P::ReadAccessLog]);
    }
}
