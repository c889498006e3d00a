//! An admin's changes to a user: disable (no sign-in, no refresh; every session ends) and
//! enable again.

use super::stores::user_view;
use super::{Accounts, UserView, storage};
use crate::auth::{Principal, Role};
use crate::domain::{Timestamp, UserId};
use crate::ports::StorageError;
use crate::services::{ServiceError, ServiceResult};

impl Accounts {
    /// An admin disables or enables a user. Disabling ends every session of theirs at once
    /// (their access tokens last until they expire, 15 minutes at most); enabling lets them
    /// sign in again (their old sessions stay ended).
    pub async fn set_disabled(
        &self,
        who: &Principal,
        id: &UserId,
        disabled: bool,
    ) -> ServiceResult<UserView> {
        who.require_role(&[Role::Admin])?;
        let user = match self
            .store
            .set_disabled(id, disabled, Timestamp::now())
            .await
        {
            Ok(user) => user,
            Err(StorageError::NotFound) => {
                return Err(ServiceError::NotFound {
                    what: "user",
                    id: id.to_string(),
                });
            }
            Err(e) => return Err(storage(e)),
        };
        tracing::info!(user = %id, disabled, by = %who.sub, "user changed");
        Ok(user_view(user))
    }
}
