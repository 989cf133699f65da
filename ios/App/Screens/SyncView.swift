import SwiftUI
import WardCRF
import WardCRFUI

/// Sync with the repository: progress after each exchange, cancel, and what to do on failure.
/// It shows the app's coordinator: a sync started here goes on when the screen is left, and a
/// sync the app started on its own shows here.
struct SyncView: View {
    @ObservedObject var model: SyncCoordinator
    let store: WardStore
    let lang: Language

    var body: some View {
        Form {
            Section {
                if let url = model.serverURL { Text("sync_server \(url)") } else { Text("sync_not_enrolled") }
            }
            if model.running {
                Section {
                    if let fraction = model.fraction {
                        ProgressView(value: fraction).accessibilityLabel(Text("sync_progress_description"))
                    } else {
                        ProgressView().accessibilityLabel(Text("sync_progress_description"))
                    }
                    Text(model.phase == .cancelling ? "sync_cancelling" : "sync_running")
                }
            }
            if let last = model.lastSynced {
                Text("sync_last \(last.formatted(date: .abbreviated, time: .shortened))").font(.caption).foregroundStyle(.secondary)
            }
            if let p = model.progress {
                Text("sync_progress \(Int(p.pushed)) \(Int(p.pulled)) \(Int(p.remaining))")
            }
            if let message = model.message { MessageBanner(message: message) }
            Section {
                if model.running {
                    Button("sync_cancel", role: .cancel) { model.cancel() }.disabled(model.phase == .cancelling)
                } else {
                    if model.serverURL != nil && !model.needsEnrolment {
                        Button(model.phase == .idle ? "sync_start" : "sync_again") { Task { await model.start() } }
                            .accessibilityIdentifier("sync.start")
                    }
                    if model.needsEnrolment {
                        NavigationLink("enrol_action") { EnrolmentView(store: store, lang: lang, onEnrolled: { Task { await model.enrolled() } }) }
                    }
                }
            }
        }
        .navigationTitle("sync_title")
        .task { await model.refresh() }
        .onAppear { Task { await model.refresh() } }
    }
}

/// Enrolment with the repository: its address and the one-time code from the site administrator.
struct EnrolmentView: View {
    @StateObject private var model: EnrolmentViewModel
    @Environment(\.dismiss) private var dismiss
    @State private var scanning = false
    let onEnrolled: () -> Void

    init(store: WardStore, lang: Language, onEnrolled: @escaping () -> Void) {
        _model = StateObject(wrappedValue: EnrolmentViewModel(store: store, lang: lang))
        self.onEnrolled = onEnrolled
    }

    var body: some View {
        Form {
            Section(footer: Text("enrol_scan_explain")) {
                Button { scanning = true } label: { Label("enrol_scan", systemImage: "qrcode.viewfinder") }
                    .disabled(model.busy)
                    .accessibilityIdentifier("enrol.scan")
            }
            Section(header: Text("enrol_or_type"), footer: Text("enrol_explain")) {
                TextField("enrol_server", text: $model.serverURL, prompt: Text(verbatim: "https://crf.example-hospital.org"))
                    .accessibilityIdentifier("enrol.server")
                    .keyboardType(.URL).textInputAutocapitalization(.never).autocorrectionDisabled()
                TextField("enrol_code", text: $model.code)
                    .accessibilityIdentifier("enrol.code")
                    .textInputAutocapitalization(.never).autocorrectionDisabled()
                    .onSubmit { Task { await model.submit() } }
            }
            Button { Task { await model.submit() } } label: {
                HStack { if model.busy { ProgressView() }; Text("enrol_submit") }
            }
            .disabled(!model.canSubmit)
            .accessibilityIdentifier("enrol.submit")
            if let message = model.message { MessageBanner(message: message) }
        }
        .navigationTitle("enrol_title")
        .sheet(isPresented: $scanning) {
            QRScannerView(onCode: { payload in
                scanning = false
                Task { await model.submit(qrPayload: payload) }
            }, onUnavailable: {
                scanning = false
                model.cameraUnavailable()
            })
            .ignoresSafeArea()
        }
        .onChange(of: model.enrolled) { enrolled in
            if enrolled != nil {
                onEnrolled()
                Task {
                    try? await Task.sleep(nanoseconds: 1_500_000_000)
                    dismiss()
                }
            }
        }
    }
}
