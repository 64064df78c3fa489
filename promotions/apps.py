from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "GitOps promotions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from promotions.web.login import locked_out, logged_in, login_failed

        user_login_failed.connect(login_failed, dispatch_uid="audit-login-failed")
        user_logged_in.connect(logged_in, dispatch_uid="audit-logged-in")
        user_locked_out.connect(locked_out, dispatch_uid="audit-locked-out")
