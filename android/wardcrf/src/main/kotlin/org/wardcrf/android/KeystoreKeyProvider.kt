package org.wardcrf.android

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import android.security.keystore.UserNotAuthenticatedException
import org.wardcrf.KeyProvider
import org.wardcrf.KeyProviderException
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * Wraps the case store's random data key with an AES-256-GCM key that never leaves the Android
 * Keystore (StrongBox when the device has one). The store keeps only the wrapped data key:
 * without this device's Keystore key, a copied store directory cannot be opened.
 *
 * Wrapped form: the 12-byte IV the Keystore chose, then ciphertext and the 16-byte tag.
 * The key is created on first [wrap] (store creation); [unwrap] never creates one: a missing
 * key (app data restored on another device, Keystore reset) is reported as unavailable
 * instead of silently making a key that cannot open the store.
 *
 * The key is usable only while the tablet is unlocked (`setUnlockedDeviceRequired`), which
 * needs a secure lock screen (PIN, pattern or password): [deviceSecure] is asked before a key
 * is created, and without one no key is made (the app shows [DeviceLock]'s guidance first, so
 * this is the last line, not the user's path).
 */
class KeystoreKeyProvider(
    private val alias: String = DEFAULT_ALIAS,
    private val deviceSecure: () -> Boolean,
) : KeyProvider {
    companion object {
        const val DEFAULT_ALIAS = "wardcrf-store-key"
        private const val KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val IV_BYTES = 12
        private const val TAG_BITS = 128
        private const val NO_SECURE_LOCK = "the tablet has no secure lock screen"
    }

    private val keyStore: KeyStore = KeyStore.getInstance(KEYSTORE).apply { load(null) }

    override fun kind(): String = "android-keystore"

    override fun wrap(dataKey: ByteArray): ByteArray = guarded {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, existingKey() ?: createKey())
        val iv = cipher.iv
        check(iv.size == IV_BYTES) { "unexpected IV length" }
        iv + cipher.doFinal(dataKey)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray = guarded {
        if (wrapped.size < IV_BYTES + TAG_BITS / 8) throw KeyProviderException.WrongKey()
        val key = existingKey() ?: throw KeyProviderException.Unavailable("the Keystore key of this store is missing")
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, wrapped, 0, IV_BYTES))
        try {
            cipher.doFinal(wrapped, IV_BYTES, wrapped.size - IV_BYTES)
        } catch (e: AEADBadTagException) {
            throw KeyProviderException.WrongKey()
        }
    }

    /** Deletes the Keystore key (the store it wrapped can no longer be opened). */
    fun deleteKey() {
        if (keyStore.containsAlias(alias)) keyStore.deleteEntry(alias)
    }

    private fun existingKey(): SecretKey? = (keyStore.getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.secretKey

    private fun createKey(): SecretKey {
        if (!deviceSecure()) throw KeyProviderException.Unavailable(NO_SECURE_LOCK)
        fun spec(strongBox: Boolean): KeyGenParameterSpec =
            KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .setRandomizedEncryptionRequired(true)
                .apply {
                    if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
                        // Usable only while the tablet is unlocked.
                        setUnlockedDeviceRequired(true)
                        setIsStrongBoxBacked(strongBox)
                    }
                }
                .build()

        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            try {
                generator.init(spec(strongBox = true))
                return generator.generateKey()
            } catch (e: StrongBoxUnavailableException) {
                // No secure element: the TEE-backed Keystore is next best.
            }
        }
        generator.init(spec(strongBox = false))
        return generator.generateKey()
    }

    /** Keystore failures as the reasons the bindings expect; no key material in any message. */
    private inline fun <T> guarded(block: () -> T): T = try {
        block()
    } catch (e: KeyProviderException) {
        throw e
    } catch (e: UserNotAuthenticatedException) {
        throw KeyProviderException.Unavailable("unlock the tablet first")
    } catch (e: KeyPermanentlyInvalidatedException) {
        throw KeyProviderException.Unavailable("the Keystore key was invalidated (screen lock removed?)")
    } catch (e: GeneralSecurityException) {
        throw KeyProviderException.Unavailable("Keystore: ${e.javaClass.simpleName}")
    } catch (e: IllegalStateException) {
        throw KeyProviderException.Unavailable("Keystore: ${e.javaClass.simpleName}")
    }
}
