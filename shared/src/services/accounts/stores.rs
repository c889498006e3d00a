//! Stores as records and their people: an admin creates a store with its owner; the store's
//! owners add staff or change their roles.

use super::{
    Accounts, Invitee, MemberView, NewStore, StoreView, UserView, storage, store_not_found,
};
use crate::auth::{Principal, Role};
use crate::domain::{Membership, Store, StoreId, StoreRole, Timestamp, User, UserId};
use crate::ports::StorageError;
use crate::services::{ServiceError, ServiceResult};

impl Accounts {
    /// An admin creates a store and its owner (found by number, or added).
    pub async fn create_store(&self, who: &Principal, new: NewStore) -> ServiceResult<StoreView> {
        who.require_role(&[Role::Admin])?;
        let taken = |id: &StoreId| ServiceError::Conflict {
            code: "store_exists",
            detail: format!("store {id} already exists"),
        };
        if new.store_id == StoreId::catalog() {
            return Err(ServiceError::Conflict {
                code: "store_exists",
                detail: format!(
                    "store id {} is the catalog's own (its jobs are kept under it)",
                    StoreId::CATALOG
                ),
            });
        }
        // Before the owner is added: a taken id leaves no user behind (the insert below still
        // decides a race).
        if self
            .store
            .get_store(&new.store_id)
            .await
            .map_err(storage)?
            .is_some()
        {
            return Err(taken(&new.store_id));
        }
        let now = Timestamp::now();
        let owner = self.user_for(&new.owner, now).await?;
        let store = Store {
            store_id: new.store_id,
            name: new.name,
            region: new.region,
            owner: owner.user_id,
            created_at: now,
        };
        let membership = Membership {
            store_id: store.store_id.clone(),
            user_id: owner.user_id,
            role: StoreRole::StoreOwner,
            added_by: who.sub.clone(),
            added_at: now,
        };
        match self.store.insert_store(&store, &membership).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => return Err(taken(&store.store_id)),
            Err(e) => return Err(storage(e)),
        }
        tracing::info!(store = %store.store_id, owner = %owner.user_id, "store created");
        Ok(StoreView {
            members: vec![member_view(&owner, &membership)],
            store_id: store.store_id,
            name: store.name,
            region: store.region,
            owner_user_id: store.owner,
            created_at: store.created_at,
        })
    }

    /// The store and its people: admins and the store's owners.
    pub async fn get_store(&self, who: &Principal, id: &StoreId) -> ServiceResult<StoreView> {
        who.require_store(&[Role::Admin, Role::StoreOwner], id)?;
        let store = self.existing_store(id).await?;
        let mut members = Vec::new();
        for m in self.store.members_of(id).await.map_err(storage)? {
            if let Some(user) = self.store.get_user(&m.user_id).await.map_err(storage)? {
                members.push(member_view(&user, &m));
            }
        }
        Ok(StoreView {
            store_id: store.store_id,
            name: store.name,
            region: store.region,
            owner_user_id: store.owner,
            created_at: store.created_at,
            members,
        })
    }

    /// A store's owner (or an admin) adds someone to the store, or changes their role there.
    pub async fn add_member(
        &self,
        who: &Principal,
        id: &StoreId,
        invitee: Invitee,
        role: StoreRole,
    ) -> ServiceResult<MemberView> {
        who.require_store(&[Role::Admin, Role::StoreOwner], id)?;
        let store = self.existing_store(id).await?;
        let now = Timestamp::now();
        let user = self.user_for(&invitee, now).await?;
        if user.user_id == store.owner && role != StoreRole::StoreOwner {
            return Err(ServiceError::Conflict {
                code: "owner_role_fixed",
                detail: format!(
                    "{} owns store {id}; the owner's role cannot change",
                    user.display_name
                ),
            });
        }
        let membership = Membership {
            store_id: id.clone(),
            user_id: user.user_id,
            role,
            added_by: who.sub.clone(),
            added_at: now,
        };
        self.store
            .put_membership(&membership)
            .await
            .map_err(storage)?;
        tracing::info!(store = %id, user = %user.user_id, role = role.as_str(), "member added");
        Ok(member_view(&user, &membership))
    }

    pub(super) async fn existing_store(&self, id: &StoreId) -> ServiceResult<Store> {
        self.store
            .get_store(id)
            .await
            .map_err(storage)?
            .ok_or_else(|| store_not_found(id))
    }

    /// The user with the invitee's number, created (with their name) if there is none.
    async fn user_for(&self, invitee: &Invitee, now: Timestamp) -> ServiceResult<User> {
        if let Some(user) = self
            .store
            .user_by_phone(&invitee.phone)
            .await
            .map_err(storage)?
        {
            return Ok(user);
        }
        let user = User {
            user_id: UserId::new(),
            phone: invitee.phone.clone(),
            display_name: invitee.display_name.clone(),
            global_role: None,
            disabled: false,
            sessions_valid_after: None,
            created_at: now,
        };
        match self.store.insert_user(&user).await {
            Ok(()) => Ok(user),
            // Added by a racing request: theirs is the user.
            Err(StorageError::AlreadyExists) => self
                .store
                .user_by_phone(&invitee.phone)
                .await
                .map_err(storage)?
                .ok_or_else(|| {
                    ServiceError::Internal(StorageError::Corrupt(format!(
                        "the user of {} vanished while being added",
                        invitee.phone.masked()
                    )))
                }),
            Err(e) => Err(storage(e)),
        }
    }
}

fn member_view(user: &User, m: &Membership) -> MemberView {
    MemberView {
        user_id: user.user_id,
        display_name: user.display_name.clone(),
        phone: user.phone.clone(),
        role: m.role,
        added_by: m.added_by.clone(),
        added_at: m.added_at,
    }
}

pub(super) fn user_view(user: User) -> UserView {
    UserView {
        user_id: user.user_id,
        phone: user.phone,
        display_name: user.display_name,
        global_role: user.global_role,
        disabled: user.disabled,
        sessions_valid_after: user.sessions_valid_after,
        created_at: user.created_at,
    }
}
