"""The notification port: an outbox of SMS and in-app messages, templates in Chinese and English."""
