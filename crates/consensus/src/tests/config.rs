//! Configuration checks of `Replica::new`.

use super::fixture::*;
use crate::*;
use settlenet_types::{Height, ReplicaId, View};

#[test]
fn configuration_is_checked() {
    let fx = fixture(4);
    let config = |me: u16, key: usize, mif: u64| {
        ReplicaConfig::new(
            CHAIN.into(),
            fx.validators.clone(),
            ReplicaId(me),
            fx.keys[key].clone(),
            mif,
        )
    };
    let cases = vec![
        ("me out of range", config(4, 0, 4)),
        ("key is not validators[me]", config(1, 2, 4)),
        ("max_in_flight 0", config(1, 1, 0)),
        ("max_in_flight huge", config(1, 1, u64::MAX)),
    ];
    for (description, c) in cases {
        assert!(
            matches!(
                Replica::new(c, Height(0), View(0)),
                Err(ConsensusError::InvalidConfig(_))
            ),
            "{description}"
        );
    }
    let mut dup = config(1, 1, 4);
    dup.validators[2] = dup.validators[3];
    assert!(Replica::new(dup, Height(0), View(0)).is_err());
    assert!(Replica::new(config(1, 1, 4), Height(0), View(0)).is_ok());
}

#[test]
fn configuration_checks_timers_and_checkpoint_interval() {
    let fx = fixture(4);
    let base = fx.vc_config(0);
    let cases = vec![
        (
            "zero timeout",
            ReplicaConfig {
                view_timeout_ms_min: 0,
                ..base.clone()
            },
        ),
        (
            "max below min",
            ReplicaConfig {
                view_timeout_ms_max: T_MIN - 1,
                ..base.clone()
            },
        ),
        (
            "zero interval",
            ReplicaConfig {
                checkpoint_interval: 0,
                ..base.clone()
            },
        ),
        (
            "interval too large",
            ReplicaConfig {
                checkpoint_interval: MAX_CHECKPOINT_INTERVAL + 1,
                ..base.clone()
            },
        ),
    ];
    for (description, config) in cases {
        assert!(
            matches!(
                Replica::new(config, Height(0), View(0)),
                Err(ConsensusError::InvalidConfig(_))
            ),
            "{description}"
        );
    }
    let defaults = ReplicaConfig::new(
        CHAIN.into(),
        fx.validators.clone(),
        ReplicaId(0),
        fx.keys[0].clone(),
        4,
    );
    assert_eq!(defaults.view_timeout_ms_max, 30_000);
    assert_eq!(defaults.checkpoint_interval, 16);
}
