import SwiftUI
import WardCRF
import WardCRFUI

/// "Set PIN": the signed-in staff member types their password again and the new PIN twice.
/// The view model refuses two different PINs or a malformed one before calling the store; an
/// error (a wrong password, ...) keeps the sheet open with its message. Nothing typed is kept.
struct PinSheet: View {
    @ObservedObject var model: PinViewModel
    let onClose: () -> Void
    @State private var password = ""
    @State private var pin = ""
    @State private var confirmation = ""

    var body: some View {
        NavigationStack {
            Form {
                Section(footer: Text("pin_explain")) {
                    SecureField("signin_password", text: $password)
                        .textContentType(.password)
                    SecureField("pin_new", text: $pin)
                        .keyboardType(.numberPad)
                        .textContentType(.oneTimeCode)
                    SecureField("pin_repeat", text: $confirmation)
                        .keyboardType(.numberPad)
                        .textContentType(.oneTimeCode)
                }
                if let message = model.message, message.isError {
                    Section { Text(message.text).foregroundStyle(.red) }
                }
            }
            .navigationTitle("pin_title")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) { Button("cancel") { onClose() } }
                ToolbarItem(placement: .confirmationAction) {
                    Button("pin_submit") {
                        let (typed, new, again) = (password, pin, confirmation)
                        password = ""
                        pin = ""
                        confirmation = ""
                        Task {
                            await model.setPin(password: typed, pin: new, confirmation: again)
                            if model.done { onClose() }
                        }
                    }
                    .disabled(password.isEmpty || pin.isEmpty || confirmation.isEmpty || model.busy)
                }
            }
        }
        .presentationDetents([.medium, .large])
    }
}
