//! The handlers of the HTTP API of `docs/http-api.md`, one file per job: [`admin`] (sites,
//! enrolment codes, devices), [`enroll`] (a device's enrolment), [`sync`] (a device's
//! exchange), [`staff`] (a staff member's sign-in on a device, the site's roster), [`cases`] (the projections and audit trails of stored cases) and [`export`]
//! (the streamed exports). The router that mounts them is in [`crate::routes`]; the errors
//! they answer with in [`crate::error`].

pub(crate) mod admin;
pub(crate) mod cases;
pub(crate) mod enroll;
pub(crate) mod export;
pub(crate) mod staff;
pub(crate) mod sync;
