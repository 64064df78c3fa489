"""Reviews and identities on every Git host: GitHub, GitLab, Gitea/Forgejo.

`Approval.github_review_id` (a number, unique) becomes `host_review_id` ("<host>:<id>", unique), so
a GitLab or Gitea review id can never collide with a GitHub one; existing rows keep their GitHub ids
as "github:<id>". `Profile` gets the GitLab and Gitea usernames an admin links.
"""

from django.db import migrations, models


def forwards(apps, schema_editor):
    Approval = apps.get_model("promotions", "Approval")
    for pk, review in Approval.objects.filter(github_review_id__isnull=False).values_list("pk", "github_review_id"):
        Approval.objects.filter(pk=pk).update(host_review_id=f"github:{review}")


def backwards(apps, schema_editor):
    Approval = apps.get_model("promotions", "Approval")
    for pk, key in Approval.objects.filter(host_review_id__startswith="github:").values_list("pk", "host_review_id"):
        Approval.objects.filter(pk=pk).update(github_review_id=int(key.split(":", 1)[1]))


class Migration(migrations.Migration):
    dependencies = [("promotions", "0012_catalogue_draft")]

    operations = [
        migrations.AddField(
            model_name="approval",
            name="host_review_id",
            field=models.CharField(blank=True, max_length=80, null=True, unique=True),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="approval", name="github_review_id"),
        migrations.AlterField(
            model_name="approval",
            name="reviewer",
            field=models.CharField(help_text="portal username or Git host login", max_length=150),
        ),
        migrations.AlterField(
            model_name="approval",
            name="source",
            field=models.CharField(default="ui", help_text="ui, api, cli, chatops, or the Git host", max_length=20),
        ),
        migrations.AddField(
            model_name="profile",
            name="gitlab_username",
            field=models.CharField(blank=True, max_length=255, null=True, unique=True, verbose_name="GitLab username"),
        ),
        migrations.AddField(
            model_name="profile",
            name="gitea_username",
            field=models.CharField(
                blank=True, max_length=255, null=True, unique=True, verbose_name="Gitea/Forgejo username"
            ),
        ),
    ]
