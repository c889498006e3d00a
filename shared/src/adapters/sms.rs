//! Where sign-in codes leave: an SMS through Amazon SNS in AWS, the log locally.

use async_trait::async_trait;

use crate::domain::Phone;
use crate::ports::{CodeSender, StorageResult};

/// The local sender: the message goes to the server's log (and only there), so a developer
/// reads the code off the terminal `make run` prints to.
#[derive(Debug, Default)]
pub struct LoggedCodes;

#[async_trait]
impl CodeSender for LoggedCodes {
    async fn send(&self, phone: &Phone, message: &str) -> StorageResult<()> {
        tracing::info!(
            phone = phone.as_str(),
            "SMS (not sent; the local server only logs it): {message}"
        );
        Ok(())
    }
}

/// SMS through SNS's `Publish` to a phone number, as a transactional message (SNS routes those
/// for delivery rather than price).
///
/// India's SMS rules (DLT) need the sender's entity and template ids on each message: `dlt`
/// carries them once the account's registration gives them.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct SnsCodes {
    pub client: aws_sdk_sns::Client,
    /// `AWS.MM.SMS.EntityId` and `AWS.MM.SMS.TemplateId`, when registered.
    pub dlt: Option<(String, String)>,
}

#[cfg(feature = "aws")]
#[async_trait]
impl CodeSender for SnsCodes {
    async fn send(&self, phone: &Phone, message: &str) -> StorageResult<()> {
        use aws_sdk_sns::types::MessageAttributeValue;

        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(crate::ports::StorageError::backend)
        };
        let mut req = self
            .client
            .publish()
            .phone_number(phone.as_str())
            .message(message)
            .message_attributes("AWS.SNS.SMS.SMSType", attr("Transactional")?);
        if let Some((entity, template)) = &self.dlt {
            req = req
                .message_attributes("AWS.MM.SMS.EntityId", attr(entity)?)
                .message_attributes("AWS.MM.SMS.TemplateId", attr(template)?);
        }
        req.send().await.map_err(super::dynamo::sdk_err)?;
        Ok(())
    }
}
