"""Token revocation fields and one active holder per email (SPEC §15).

Deployed databases may already hold the same email (in any case) on several active users, or a user's email equal
to another user's username: both let one tenant take over another tenant's login string. Before the unique index is
built, the earliest-joined active holder keeps the email (a squatter is normally the later one) and the others' email
is cleared; so is any email equal to another user's username (the username is the primary login). Every cleared
email is printed with its user id, so an operator can contact those users; nobody is deactivated.
"""

import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def clear_conflicting_emails(apps, schema_editor):
    User = apps.get_model("crm", "User")
    holders = {}
    usernames = {name.lower(): pk for pk, name in User.objects.values_list("pk", "username")}
    active = User.objects.filter(is_active=True).exclude(email="").order_by("date_joined", "pk")
    cleared = []
    for pk, email in active.annotate(email_ci=Lower("email")).values_list("pk", "email_ci"):
        if email in holders or usernames.get(email, pk) != pk:
            cleared.append((pk, email))
        else:
            holders[email] = pk
    if cleared:
        User.objects.filter(pk__in=[pk for pk, _ in cleared]).update(email="")
        print(f"\n  crm.0002: cleared {len(cleared)} conflicting email(s): " + ", ".join(f"user {pk} <{email}>" for pk, email in cleared))


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('crm', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='user',
            name='token_version',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='user',
            name='tokens_revoked_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(clear_conflicting_emails, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('email'), condition=models.Q(('is_active', True), models.Q(('email', ''), _negated=True)), name='crm_user_active_email_ci_unique', violation_error_message='This email is taken.'),
        ),
        migrations.AlterConstraint(
            model_name='user',
            name='crm_user_username_ci_unique',
            constraint=models.UniqueConstraint(django.db.models.functions.text.Lower('username'), name='crm_user_username_ci_unique', violation_error_message='This username is taken.'),
        ),
    ]
