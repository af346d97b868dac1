"""The pages smsgate serves: static HTML and scripts, no templating of user data."""
