package org.wardcrf.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import org.wardcrf.app.ui.WardApp
import org.wardcrf.app.ui.WardTheme

/** The one activity; the store locks whenever it stops being visible. */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContent {
            WardTheme {
                WardApp(application as WardApplication)
            }
        }
    }

    override fun onStop() {
        super.onStop()
        // A tablet put down or switched to another app shows nothing until someone signs in.
        // Off the main thread: the store may be busy with a sync.
        val app = application as WardApplication
        Thread { app.lockStore() }.start()
    }
}
