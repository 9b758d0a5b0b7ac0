//! Who may connect: a signed token (JWT, HS256) whose claims are the user's UID and the device's
//! index. The secret comes from the environment or a file; there is no default.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The longest UID a token may claim, in bytes.
pub const UID_BYTES_MAX: usize = 128;
/// The shortest secret accepted, in bytes (HS256 wants at least its hash size).
pub const SECRET_BYTES_MIN: usize = 32;

/// A token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's UID.
    pub sub: String,
    /// The device's index among the user's devices.
    pub dev: u16,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
}

/// Why a token or a secret was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token on the request.
    #[error("no token: send `Authorization: Bearer <token>` or `?token=<token>`")]
    Missing,
    /// Bad signature, wrong algorithm, expired, or not a JWT.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// The UID is empty or longer than [`UID_BYTES_MAX`].
    #[error("the token's UID is empty or longer than {UID_BYTES_MAX} bytes")]
    BadUid,
    /// The device index is not below the devices a user may have.
    #[error("the token's device index {dev} is not below {devices_max}")]
    BadDevice {
        /// The claimed index.
        dev: u16,
        /// The limit.
        devices_max: u16,
    },
    /// No secret was configured, or it is too short.
    #[error("the signing secret is missing or shorter than {SECRET_BYTES_MIN} bytes")]
    BadSecret,
    /// The secret file could not be read.
    #[error("reading the secret file: {0}")]
    SecretFile(#[from] std::io::Error),
}

/// The signing secret (HS256).
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from bytes; refused when shorter than [`SECRET_BYTES_MIN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, AuthError> {
        let bytes = bytes.into();
        if bytes.len() < SECRET_BYTES_MIN {
            return Err(AuthError::BadSecret);
        }
        Ok(Self(bytes))
    }

    /// The secret from the file at `path` (surrounding whitespace trimmed).
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)?;
        Self::new(text.trim().as_bytes())
    }

    /// A token for `uid`'s device `dev`, valid for `ttl_s` seconds from now.
    pub fn token(&self, uid: &str, dev: u16, ttl_s: u64) -> Result<String, AuthError> {
        let exp = unix_now_s().saturating_add(ttl_s);
        self.sign(&Claims { sub: uid.to_owned(), dev, exp })
    }

    /// Signs `claims` as they are (tests use it for expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let key = jsonwebtoken::EncodingKey::from_secret(&self.0)?;
        Ok(jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)?)
    }

    /// Checks `token`: HS256 signed with this secret, not expired, and claiming a UID and a
    /// device index below `devices_max`.
    pub fn verify(&self, token: &str, devices_max: u16) -> Result<Claims, AuthError> {
        let key = jsonwebtoken::DecodingKey::from_secret(&self.0)?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)?.claims;
        if claims.sub.is_empty() || claims.sub.len() > UID_BYTES_MAX {
            return Err(AuthError::BadUid);
        }
        if claims.dev >= devices_max {
            return Err(AuthError::BadDevice { dev: claims.dev, devices_max });
        }
        Ok(claims)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
