//! A store's scanner devices: an owner adds one and shows its one-time pairing code (a QR
//! code in the app); the device trades the code for its own session as the store's scanner;
//! an owner lists and revokes devices. A revoked device's refresh is refused at once and its
//! access token expires within [`super::ACCESS_TOKEN_TTL`].

use super::secrets::{pairing_code, parse_pairing, random_secret};
use super::sign_in::device_grant;
use super::{
    Accounts, ClientAddress, DeviceView, PairingView, TokenPair, limits, sign_in_error, storage,
};
use crate::auth::{Principal, Role};
use crate::domain::account::{MAX_DEVICES, PAIRING_TTL};
use crate::domain::{Device, DeviceId, Holder, StoreId, Timestamp};
use crate::ports::StorageError;
use crate::services::{ServiceError, ServiceResult};

impl Accounts {
    /// An owner (or an admin) adds a device to the store: its record and one-time pairing code.
    pub async fn add_device(
        &self,
        who: &Principal,
        store: &StoreId,
        name: String,
    ) -> ServiceResult<PairingView> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        self.existing_store(store).await?;
        let now = Timestamp::now();
        let active = self
            .store
            .devices_of(store)
            .await
            .map_err(storage)?
            .iter()
            .filter(|d| d.revoked_at.is_none() && (d.paired_at.is_some() || d.pairable(now)))
            .count();
        if active >= MAX_DEVICES {
            return Err(ServiceError::Conflict {
                code: "too_many_devices",
                detail: format!(
                    "store {store} has {active} devices, the most it may have; revoke one first"
                ),
            });
        }
        let device_id = DeviceId::new();
        let secret = random_secret()?;
        let device = Device {
            device_id,
            store_id: store.clone(),
            name,
            added_by: who.sub.clone(),
            created_at: now,
            pairing_mac: Some(self.pairing_mac(store, &device_id, &secret)),
            pairing_expires_at: now.plus(PAIRING_TTL),
            paired_at: None,
            session_id: None,
            revoked_at: None,
        };
        self.store.insert_device(&device).await.map_err(storage)?;
        tracing::info!(store = %store, device = %device_id, "device added, waiting to pair");
        Ok(PairingView {
            pairing_code: pairing_code(store, &device_id, &secret),
            expires_in: PAIRING_TTL.whole_seconds(),
            device: device_view(&device, now),
        })
    }

    /// The store's devices, oldest first: admins and the store's owners.
    pub async fn list_devices(
        &self,
        who: &Principal,
        store: &StoreId,
    ) -> ServiceResult<Vec<DeviceView>> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        let now = Timestamp::now();
        let mut devices = self.store.devices_of(store).await.map_err(storage)?;
        devices.sort_by_key(|d| (d.created_at, d.device_id));
        Ok(devices.iter().map(|d| device_view(d, now)).collect())
    }

    /// Revokes a device: its session ends, and it must be paired again to scan.
    pub async fn revoke_device(
        &self,
        who: &Principal,
        store: &StoreId,
        id: &DeviceId,
    ) -> ServiceResult<()> {
        who.require_store(&[Role::Admin, Role::StoreOwner], store)?;
        let device = self
            .store
            .get_device(store, id)
            .await
            .map_err(storage)?
            .ok_or_else(|| device_not_found(id))?;
        let now = Timestamp::now();
        match self.store.revoke_device(store, id, now).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(device_not_found(id)),
            Err(e) => return Err(storage(e)),
        }
        // The refresh checks the device too; ending the session says so in its record.
        if let Some(session) = device.session_id {
            self.store
                .revoke_session(&session, now)
                .await
                .map_err(storage)?;
        }
        tracing::info!(store = %store, device = %id, by = %who.sub, "device revoked");
        Ok(())
    }

    /// The device's side: its pairing code, once, for its own session as the store's scanner.
    pub async fn pair_device(&self, code: &str, from: ClientAddress) -> ServiceResult<TokenPair> {
        let now = Timestamp::now();
        self.limit(
            &format!("pairing-address:{from}"),
            limits::PAIRINGS_PER_ADDRESS,
            now,
            "too many pairing codes were tried from this address",
        )
        .await?;
        let invalid = || {
            sign_in_error(
                "pairing_code_invalid",
                "the pairing code is not good (mistyped, used already, older than 10 minutes, or its device was removed); ask the store's owner for a new one",
            )
        };
        let (store, id, secret) = parse_pairing(code).ok_or_else(invalid)?;
        let device = self
            .store
            .get_device(&store, &id)
            .await
            .map_err(storage)?
            .ok_or_else(invalid)?;
        let mac = self.pairing_mac(&store, &id, secret);
        let matches = device.pairing_mac.as_deref().is_some_and(|stored| {
            self.secrets
                .verify("pairing", &pairing_parts(&store, &id, secret), stored)
        });
        if !matches || !device.pairable(now) {
            return Err(invalid());
        }
        let holder = Holder::Device {
            store_id: store.clone(),
            device_id: id,
        };
        // The session first: a pairing that loses the race below leaves only an unused,
        // unreachable session behind, never a paired device without one.
        let (session, refresh_secret) = self.start_session(holder, now).await?;
        match self
            .store
            .pair_device(&store, &id, &mac, &session.session_id, now)
            .await
        {
            Ok(()) => {}
            Err(StorageError::VersionConflict { .. }) => {
                self.store
                    .revoke_session(&session.session_id, now)
                    .await
                    .map_err(storage)?;
                return Err(invalid());
            }
            Err(e) => return Err(storage(e)),
        }
        tracing::info!(store = %store, device = %id, session = %session.session_id, "device paired");
        Ok(self.pair(&session, &refresh_secret, device_grant(&store), now))
    }

    fn pairing_mac(&self, store: &StoreId, id: &DeviceId, secret: &str) -> String {
        self.secrets
            .mac("pairing", &pairing_parts(store, id, secret))
    }
}

fn pairing_parts(store: &StoreId, id: &DeviceId, secret: &str) -> [Vec<u8>; 3] {
    [
        store.as_str().as_bytes().to_vec(),
        id.to_string().into_bytes(),
        secret.as_bytes().to_vec(),
    ]
}

fn device_not_found(id: &DeviceId) -> ServiceError {
    ServiceError::NotFound {
        what: "device",
        id: id.to_string(),
    }
}

fn device_view(d: &Device, now: Timestamp) -> DeviceView {
    let status = if d.revoked_at.is_some() {
        "revoked"
    } else if d.paired_at.is_some() {
        "paired"
    } else if d.pairable(now) {
        "pending"
    } else {
        "expired"
    };
    DeviceView {
        device_id: d.device_id,
        store_id: d.store_id.clone(),
        name: d.name.clone(),
        status,
        added_by: d.added_by.clone(),
        created_at: d.created_at,
        paired_at: d.paired_at,
        revoked_at: d.revoked_at,
    }
}
