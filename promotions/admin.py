from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest

from promotions.models import Approval, AuditEvent, Pin, Profile, Promotion, RepositoryState, StageVersion


class ReadOnly(admin.ModelAdmin):
    """What the portal records is changed through the portal, not here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(RepositoryState)
class RepositoryStateAdmin(ReadOnly):
    list_display = ["name", "branch", "commit", "read_at", "checked_at", "error"]


@admin.register(StageVersion)
class StageVersionAdmin(ReadOnly):
    list_display = ["application", "stage", "version", "repository", "changed_at", "author"]
    list_filter = ["stage", "repository"]
    search_fields = ["application", "version"]


@admin.register(Promotion)
class PromotionAdmin(ReadOnly):
    list_display = ["id", "kind", "to_stage", "state", "requested_by", "created_at"]
    list_filter = ["state", "to_stage", "kind"]


@admin.register(Approval)
class ApprovalAdmin(ReadOnly):
    list_display = ["promotion", "reviewer", "decision", "source", "created_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    list_display = ["at", "actor", "source", "action", "message"]
    list_filter = ["source", "action"]
    search_fields = ["actor", "action", "message"]


@admin.register(Pin)
class PinAdmin(admin.ModelAdmin):
    """Lifting a pin by hand is allowed (a promotion by hand lifts it too)."""

    list_display = ["application", "stage", "version", "promotion", "created_at"]


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    verbose_name_plural = "links to other systems"


admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    inlines = [ProfileInline]
