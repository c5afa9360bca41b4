package tgsim

import (
	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
)

// routes maps the served methods to their handlers. help.getConfig and
// help.getCdnConfig go to tgtest's config service; everything else answers
// 400 INPUT_METHOD_INVALID.
func (s *Sim) routes() map[uint32]handler {
	open := func(fn func(s *Sim, c *call) (bin.Encoder, error)) handler { return handler{fn: fn} }
	authed := func(fn func(s *Sim, c *call) (bin.Encoder, error)) handler { return handler{auth: true, fn: fn} }
	return map[uint32]handler{
		// Accounts.
		tg.AuthSendCodeRequestTypeID:            open((*Sim).authSendCode),
		tg.AuthSignInRequestTypeID:              open((*Sim).authSignIn),
		tg.AccountGetPasswordRequestTypeID:      open((*Sim).accountGetPassword),
		tg.AuthCheckPasswordRequestTypeID:       open((*Sim).authCheckPassword),
		tg.AuthImportAuthorizationRequestTypeID: open((*Sim).authImportAuthorization),
		tg.AuthExportAuthorizationRequestTypeID: authed((*Sim).authExportAuthorization),
		tg.AuthLogOutRequestTypeID:              authed((*Sim).authLogOut),
		tg.UsersGetUsersRequestTypeID:           authed((*Sim).usersGetUsers),

		// Channels.
		tg.ContactsResolveUsernameRequestTypeID:  authed((*Sim).contactsResolveUsername),
		tg.ChannelsJoinChannelRequestTypeID:      authed((*Sim).channelsJoinChannel),
		tg.ChannelsLeaveChannelRequestTypeID:     authed((*Sim).channelsLeaveChannel),
		tg.MessagesCheckChatInviteRequestTypeID:  authed((*Sim).messagesCheckChatInvite),
		tg.MessagesImportChatInviteRequestTypeID: authed((*Sim).messagesImportChatInvite),
		tg.ChannelsGetFullChannelRequestTypeID:   authed((*Sim).channelsGetFullChannel),
		tg.MessagesGetHistoryRequestTypeID:       authed((*Sim).messagesGetHistory),
		tg.ChannelsGetMessagesRequestTypeID:      authed((*Sim).channelsGetMessages),

		// Files.
		tg.UploadGetFileRequestTypeID:       authed((*Sim).uploadGetFile),
		tg.UploadGetFileHashesRequestTypeID: authed((*Sim).uploadGetFileHashes),

		// Updates.
		tg.UpdatesGetStateRequestTypeID:             authed((*Sim).updatesGetState),
		tg.UpdatesGetDifferenceRequestTypeID:        authed((*Sim).updatesGetDifference),
		tg.UpdatesGetChannelDifferenceRequestTypeID: authed((*Sim).updatesGetChannelDifference),

		// Reports.
		tg.MessagesReportRequestTypeID:    authed((*Sim).messagesReport),
		tg.AccountReportPeerRequestTypeID: authed((*Sim).accountReportPeer),
	}
}
