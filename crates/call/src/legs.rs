//! The legs of a call and how their media is connected.

use crate::Output;
use std::collections::BTreeMap;
use std::fmt;

/// One leg of a call. The caller (the carrier's INVITE, our UAS side) is [`LegId::CALLER`]; further legs get
/// 1, 2, 3 … in the order they are dialled, never reused within a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

impl LegId {
    pub const CALLER: LegId = LegId(0);
}

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leg{}", self.0)
    }
}

/// Who a new leg rings — typed, never a string with a prefix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A registered softphone (the shell looks up its binding).
    Seat { seat: String },
    /// A department's seat group. Today a department group is an ACD queue ([`crate::Plan::Queue`]); this
    /// variant is for ring-all later.
    Group { group: String },
    /// A SIP/tel URI; `gateway` = Some(host) when the URI's host is not an IP literal: it then names a trunk
    /// (a `[[trunks.gateway]]` pool, tried by priority with failover inside the one leg, or an address of
    /// `[trunks] gateways`). A `tel:` URI has no host: `gateway` is None and the shell picks the trunk.
    Uri {
        uri: String,
        gateway: Option<String>,
    },
}

impl Target {
    /// A dial-plan target string: `seats:GROUP` is a [`Target::Group`], anything else a [`Target::Uri`].
    pub fn from_dialplan(t: &str) -> Target {
        match t.strip_prefix("seats:") {
            Some(group) => Target::Group {
                group: group.to_string(),
            },
            None => Target::uri(t),
        }
    }

    /// A [`Target::Uri`], with its gateway taken from the URI's host.
    pub fn uri(uri: &str) -> Target {
        Target::Uri {
            uri: uri.to_string(),
            gateway: gateway_of(uri),
        }
    }
}

/// The host of a `sip:`/`sips:` URI when it is a name rather than an IP literal.
fn gateway_of(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.trim().trim_start_matches('<').split_once(':')?;
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split([';', '?', '>']).next().unwrap_or(hostport);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        // [v6]:port — always an IP literal when bracketed and valid.
        let inner = v6.split(']').next().unwrap_or(v6);
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(_) => None,
            Err(_) => Some(inner.to_string()),
        };
    } else {
        hostport.split(':').next().unwrap_or(hostport)
    };
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        None
    } else {
        Some(host.to_string())
    }
}

/// Where a leg is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    /// INVITE sent, nothing heard yet.
    Dialling,
    /// A provisional arrived (for the caller leg: we have not answered yet).
    Ringing,
    Answered,
    /// Failed, cancelled or hung up: events for it are ignored from now on.
    Gone,
}

/// How the legs' audio is connected. A leg in no bridge or mix hears only what is played to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Topology {
    #[default]
    Apart,
    /// Two legs relayed both ways.
    Bridge(LegId, LegId),
    /// Three or more legs, each hearing the others.
    Mix(Vec<LegId>),
}

impl Topology {
    pub fn members(&self) -> Vec<LegId> {
        match self {
            Topology::Apart => Vec::new(),
            Topology::Bridge(a, b) => vec![*a, *b],
            Topology::Mix(legs) => legs.clone(),
        }
    }

    pub fn contains(&self, leg: LegId) -> bool {
        self.members().contains(&leg)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Leg {
    /// None for the caller leg (and a leg still on its way from another call).
    pub target: Option<Target>,
    pub state: LegState,
    /// DTMF received from this leg, in order.
    pub dtmf: String,
    /// A seat the ACD assigned (it is released to the ACD when its leg ends after answering).
    pub acd: bool,
}

/// The leg table and the current topology.
#[derive(Debug, Clone)]
pub(crate) struct Legs {
    table: BTreeMap<LegId, Leg>,
    next: u32,
    topology: Topology,
}

impl Legs {
    pub fn new() -> Legs {
        let mut table = BTreeMap::new();
        table.insert(
            LegId::CALLER,
            Leg {
                target: None,
                state: LegState::Ringing,
                dtmf: String::new(),
                acd: false,
            },
        );
        Legs {
            table,
            next: 1,
            topology: Topology::Apart,
        }
    }

    pub fn add(&mut self, target: Target, acd: bool) -> LegId {
        let id = LegId(self.next);
        self.next += 1;
        self.table.insert(
            id,
            Leg {
                target: Some(target),
                state: LegState::Dialling,
                dtmf: String::new(),
                acd,
            },
        );
        id
    }

    /// A leg that is to come from another call (an attended transfer's department): no target and Dialling
    /// until it arrives.
    pub fn add_pending(&mut self) -> LegId {
        let id = LegId(self.next);
        self.next += 1;
        self.table.insert(
            id,
            Leg {
                target: None,
                state: LegState::Dialling,
                dtmf: String::new(),
                acd: false,
            },
        );
        id
    }

    pub fn get(&self, id: LegId) -> Option<&Leg> {
        self.table.get(&id)
    }

    pub fn get_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        self.table.get_mut(&id)
    }

    /// Known and not gone.
    pub fn is_live(&self, id: LegId) -> bool {
        self.get(id).is_some_and(|l| l.state != LegState::Gone)
    }

    pub fn state(&self, id: LegId) -> Option<LegState> {
        self.get(id).map(|l| l.state)
    }

    pub fn set_state(&mut self, id: LegId, state: LegState) {
        if let Some(l) = self.get_mut(id) {
            l.state = state;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (LegId, &Leg)> + '_ {
        self.table.iter().map(|(id, l)| (*id, l))
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Forget the topology without telling the shell (the call is over; the shell drops all media).
    pub fn clear_topology(&mut self) {
        self.topology = Topology::Apart;
    }

    /// Connect `legs` (2 = a bridge, more = a mix); legs of the old topology left out are isolated first.
    /// Refused (no outputs) unless the legs are distinct, at least two, and all live.
    pub fn connect(&mut self, legs: &[LegId], out: &mut Vec<Output>) -> bool {
        let mut sorted = legs.to_vec();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != legs.len() || legs.len() < 2 || !legs.iter().all(|l| self.is_live(*l)) {
            return false;
        }
        let new = match legs {
            [a, b] => Topology::Bridge(*a, *b),
            _ => Topology::Mix(legs.to_vec()),
        };
        if self.same(&new) {
            return true;
        }
        for l in self.topology.members() {
            if !new.contains(l) {
                out.push(Output::Isolate { leg: l });
            }
        }
        out.push(match &new {
            Topology::Bridge(a, b) => Output::Bridge { a: *a, b: *b },
            _ => Output::Mix {
                legs: legs.to_vec(),
            },
        });
        self.topology = new;
        true
    }

    /// Same legs connected the same way (order does not matter).
    fn same(&self, new: &Topology) -> bool {
        let mut a = self.topology.members();
        let mut b = new.members();
        a.sort();
        b.sort();
        a == b && std::mem::discriminant(&self.topology) == std::mem::discriminant(new)
    }

    /// Take `leg` out of the topology: `Isolate`, and the two legs left of a mix become a bridge.
    pub fn leave(&mut self, leg: LegId, out: &mut Vec<Output>) {
        if !self.topology.contains(leg) {
            return;
        }
        out.push(Output::Isolate { leg });
        let rest: Vec<LegId> = self
            .topology
            .members()
            .into_iter()
            .filter(|l| *l != leg)
            .collect();
        self.topology = match (&self.topology, rest.as_slice()) {
            (Topology::Mix(_), [a, b]) => {
                out.push(Output::Bridge { a: *a, b: *b });
                Topology::Bridge(*a, *b)
            }
            (Topology::Mix(_), r) if r.len() > 2 => Topology::Mix(rest),
            _ => Topology::Apart,
        };
    }
}
