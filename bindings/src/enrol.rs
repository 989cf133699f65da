//! Joining the repository: enrolment with a typed address and one-time code, or with the text
//! of the console's enrolment QR code, whose certificate fingerprint the store then pins for
//! every exchange (the app passes no CA). The store's lock is taken only to check it is open
//! and to record the enrolment, never while the repository is being asked.

use crate::error::WardcrfError;
use crate::store::{CaseStore, http_options};
use crate::types::Enrolment;
use wardcrf_core as core;
use wardcrf_core::sync::{EnrolPayload, HttpOptions, HttpTransport};

impl CaseStore {
    /// Enrols with `payload` over `options` (the payload's pin, when it has one, overrides
    /// their roots) and keeps the token, address and pin in the store.
    fn enroll_payload(
        &self,
        payload: &EnrolPayload,
        options: &HttpOptions,
    ) -> Result<Enrolment, WardcrfError> {
        // The address as the transport normalises it (checked before the code is spent).
        let server = HttpTransport::with_options(&payload.server, "", options)?
            .base_url()
            .to_string();
        // A locked store cannot keep the token: fail before the code is spent.
        drop(self.store()?);
        let enrolment = core::sync::enroll_with_payload(payload, &self.device_id(), options)?;
        self.store()?
            .enrolled_pinned(&server, &enrolment, payload.pin)?;
        Ok(Enrolment {
            device_id: enrolment.device_id,
            site_id: enrolment.site_id,
            server_url: server,
            identifying_on_device: enrolment.identifying_on_device,
        })
    }
}

#[uniffi::export]
impl CaseStore {
    /// Enrolls this device with the repository at `server_url` using a one-time code from the
    /// site administrator; the device token is kept sealed in the store. `ca_pem`: the
    /// hospital's own certificate authority, when it signed the repository's certificate.
    #[uniffi::method(default(ca_pem = None))]
    pub fn enroll(
        &self,
        server_url: String,
        code: String,
        ca_pem: Option<Vec<u8>>,
    ) -> Result<Enrolment, WardcrfError> {
        let payload = EnrolPayload {
            server: server_url,
            code,
            pin: None,
        };
        self.enroll_payload(&payload, &http_options(ca_pem))
    }

    /// Enrolls this device from the text of the console's enrolment QR code
    /// (`wardcrf://enroll?v=1&server=…&code=…&pin=sha256:…`). With a pin, the repository must
    /// present the certificate of that fingerprint (`CertificateMismatch` otherwise, and
    /// nothing is stored), and every later exchange trusts that certificate alone.
    /// `BadEnrolmentCode` when the text is not such a code.
    pub fn enroll_with_qr(&self, payload: String) -> Result<Enrolment, WardcrfError> {
        let payload = EnrolPayload::parse(&payload)?;
        self.enroll_payload(&payload, &http_options(None))
    }
}
