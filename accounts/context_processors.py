from django.http import HttpRequest

from .roles import Role, primary_role, roles_of


def role(request: HttpRequest) -> dict:
    """The signed-in person's roles, for navigation."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    held = roles_of(user)
    return {
        "portal_role": primary_role(user),
        "is_account_manager": Role.ACCOUNT_MANAGER in held or Role.ADMIN in held,
        "is_data_team": Role.DATA_TEAM in held or Role.ADMIN in held,
        "is_admin": Role.ADMIN in held,
    }
