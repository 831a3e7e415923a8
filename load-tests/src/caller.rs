//! Realistic callers and Twilio-style identifiers.

use switchboard_model::prng::SplitMix64;

/// Where a caller is: what Twilio puts in `FromCity`, `FromState`, `FromZip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// City, upper case as Twilio sends it.
    pub city: &'static str,
    /// Two-letter state.
    pub state: &'static str,
    /// Five-digit ZIP.
    pub zip: &'static str,
    /// An area code of the city.
    pub area_code: &'static str,
}

/// A spread of US metro areas.
pub const PLACES: &[Place] = &[
    Place {
        city: "LOS ANGELES",
        state: "CA",
        zip: "90012",
        area_code: "213",
    },
    Place {
        city: "SAN FRANCISCO",
        state: "CA",
        zip: "94105",
        area_code: "415",
    },
    Place {
        city: "NEW YORK",
        state: "NY",
        zip: "10001",
        area_code: "212",
    },
    Place {
        city: "BROOKLYN",
        state: "NY",
        zip: "11201",
        area_code: "718",
    },
    Place {
        city: "AUSTIN",
        state: "TX",
        zip: "78701",
        area_code: "512",
    },
    Place {
        city: "HOUSTON",
        state: "TX",
        zip: "77002",
        area_code: "713",
    },
    Place {
        city: "MIAMI",
        state: "FL",
        zip: "33101",
        area_code: "305",
    },
    Place {
        city: "TAMPA",
        state: "FL",
        zip: "33602",
        area_code: "813",
    },
    Place {
        city: "CHICAGO",
        state: "IL",
        zip: "60601",
        area_code: "312",
    },
    Place {
        city: "SEATTLE",
        state: "WA",
        zip: "98101",
        area_code: "206",
    },
    Place {
        city: "BOSTON",
        state: "MA",
        zip: "02108",
        area_code: "617",
    },
    Place {
        city: "ATLANTA",
        state: "GA",
        zip: "30303",
        area_code: "404",
    },
    Place {
        city: "PHOENIX",
        state: "AZ",
        zip: "85004",
        area_code: "602",
    },
    Place {
        city: "DENVER",
        state: "CO",
        zip: "80202",
        area_code: "303",
    },
    Place {
        city: "PHILADELPHIA",
        state: "PA",
        zip: "19103",
        area_code: "215",
    },
    Place {
        city: "COLUMBUS",
        state: "OH",
        zip: "43215",
        area_code: "614",
    },
];

/// A caller: an E.164 US number and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `+1NPANXXXXXX`.
    pub number: String,
    /// Its place.
    pub place: Place,
}

/// A random caller: a valid NANP number (exchange 200–999, not N11) in a
/// random metro area.
pub fn caller(rng: &mut SplitMix64) -> Caller {
    let place = *rng.pick(PLACES);
    let exchange = loop {
        let e = rng.range(200, 999);
        if e % 100 != 11 {
            break e;
        }
    };
    let line = rng.range(0, 9999);
    Caller {
        number: format!("+1{}{exchange:03}{line:04}", place.area_code),
        place,
    }
}

/// A Twilio SID: two letters then 32 lowercase hex digits (`CA…` for calls).
pub fn sid(prefix: &str, rng: &mut SplitMix64) -> String {
    format!("{prefix}{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_are_e164_us_numbers() {
        let mut rng = SplitMix64::new(9);
        for _ in 0..1000 {
            let c = caller(&mut rng);
            assert_eq!(c.number.len(), 12, "{}", c.number);
            assert!(c.number.starts_with("+1"));
            assert!(c.number[1..].bytes().all(|b| b.is_ascii_digit()));
            assert!(c.number[5..6] >= *"2", "{}", c.number);
            assert_eq!(c.place.zip.len(), 5);
        }
    }

    #[test]
    fn sids_have_twilio_shape() {
        let mut rng = SplitMix64::new(1);
        let s = sid("CA", &mut rng);
        assert_eq!(s.len(), 34);
        assert!(s.starts_with("CA"));
        assert!(s[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(s, sid("CA", &mut rng));
    }
}
