package org.wardcrf.app

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import org.wardcrf.app.ui.WardApp
import org.wardcrf.app.ui.WardTheme

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
}
