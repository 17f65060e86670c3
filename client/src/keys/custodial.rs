//! The custodial vault's two exchanges: the release of a file's K to a reader, and the
//! owner's deposit of K. Both go through the [`Channel`], to the vault alone.

use zgvault_proto::{
    FileKey,
    request::{SignedAccessRequest, SignedKeyDeposit},
    sealbox::BoxSecretKey,
    wire::{KeyRequest, KeyResponse},
};

use super::channel::response_kind;
use super::{Channel, Endpoint, Peer};
use crate::error::Error;

/// Asks the custodial `vault` for a file's key with `request` and opens the answer. The
/// caller checks the key against the registered capsule before using it.
pub async fn request_vault_key(
    channel: &Channel,
    vault: &Endpoint,
    request: &SignedAccessRequest,
    response_secret: &BoxSecretKey,
) -> Result<FileKey, Error> {
    let url = vault.to_string();
    let asked = KeyRequest::Access(request.clone());
    match channel.call(Peer::Vault, vault, &asked).await? {
        KeyResponse::Key(sealed) => {
            let plain = sealed.open(response_secret, &request.hash()).map_err(|_| {
                Error::KeyNodeMalformed {
                    url: url.clone(),
                    message: "the released key cannot be opened with this request's key".into(),
                }
            })?;
            FileKey::from_slice(&plain).map_err(|_| Error::KeyNodeMalformed {
                url,
                message: format!("the released key is {} bytes, not 32", plain.len()),
            })
        }
        other => Err(not_a_vault(vault, "a released key", &other)),
    }
}

/// Hands K to the custodial `vault` and waits for its acknowledgement. The file must be
/// registered with a custodial capsule naming this vault and committing to K first.
pub async fn deposit_key(
    channel: &Channel,
    vault: &Endpoint,
    deposit: SignedKeyDeposit,
) -> Result<(), Error> {
    let file_id = deposit.deposit().file.file_id;
    match channel
        .call(Peer::Vault, vault, &KeyRequest::KeyDeposit(deposit))
        .await?
    {
        KeyResponse::DepositAck(ack) if ack.file_id == file_id => Ok(()),
        KeyResponse::DepositAck(ack) => Err(Error::KeyNodeMalformed {
            url: vault.to_string(),
            message: format!("acknowledged a deposit for file {}", ack.file_id),
        }),
        other => Err(not_a_vault(vault, "a deposit acknowledgement", &other)),
    }
}

fn not_a_vault(vault: &Endpoint, wanted: &str, got: &KeyResponse) -> Error {
    Error::KeyNodeMalformed {
        url: vault.to_string(),
        message: format!(
            "expected {wanted}, got {}: is this URL a custodial vault?",
            response_kind(got)
        ),
    }
}
