from django.contrib import admin

from promotions.models import RepositoryState, StageVersion


@admin.register(RepositoryState)
class RepositoryStateAdmin(admin.ModelAdmin):
    list_display = ["name", "branch", "commit", "read_at", "checked_at", "error"]
    readonly_fields = [f.name for f in RepositoryState._meta.fields]


@admin.register(StageVersion)
class StageVersionAdmin(admin.ModelAdmin):
    list_display = ["application", "stage", "version", "repository", "changed_at", "author"]
    list_filter = ["stage", "repository"]
    search_fields = ["application", "version"]
    readonly_fields = [f.name for f in StageVersion._meta.fields]
